"""ROS-free core of the ScoreHOI node. Never imports rclpy or ROS message types."""
