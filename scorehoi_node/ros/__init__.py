"""Thin rclpy adapter around the core pipeline: message conversion, QoS, TF, markers."""
