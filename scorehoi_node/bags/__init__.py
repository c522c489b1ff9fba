"""rosbag2 (mcap / sqlite3) reading and writing with rosbags; messages are rclpy types."""

from scorehoi_node.bags.io import BagWriter, message_class, read_messages, type_name

__all__ = ["BagWriter", "message_class", "read_messages", "type_name"]
