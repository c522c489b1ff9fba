"""ScoreHOI ROS 2 perception node: human-object interaction reconstruction for robots.

`scorehoi_node.core` is ROS-free (detect -> estimate -> refine); `scorehoi_node.ros` is the thin
rclpy adapter; `scorehoi_node.cli` is the `scorehoi` command.
"""

__version__ = "0.1.0"
