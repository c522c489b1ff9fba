"""Bring up the scorehoi perception node.

    ros2 launch scorehoi_node scorehoi.launch.py
    ros2 launch scorehoi_node scorehoi.launch.py namespace:=front image:=/front/color/image_raw \
        camera_info:=/front/color/camera_info depth:=/front/aligned_depth_to_color/image_raw
    ros2 launch scorehoi_node scorehoi.launch.py rviz:=true   # also RViz with rviz/scorehoi.rviz

No side effects: it only starts the node with a parameters file and topic remappings (and
RViz when asked). Both get the Fast DDS profile `fastdds_profile` (shared memory sized for
640x480 RGB + depth, config/fastdds.xml) through FASTDDS_DEFAULT_PROFILES_FILE, unless the
environment already chooses the transports (FASTDDS_DEFAULT_PROFILES_FILE,
FASTRTPS_DEFAULT_PROFILES_FILE, FASTDDS_BUILTIN_TRANSPORTS, or a DEFAULT_FASTDDS_PROFILES.xml
in the working directory).
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode, Node

from scorehoi_node.ros.transport import PROFILE_ENV, PROFILE_NAME, user_transport_choice


def generate_launch_description():
    share = get_package_share_directory("scorehoi_node")
    default_params = os.path.join(share, "config", "scorehoi.yaml")
    args = [
        DeclareLaunchArgument("params_file", default_value=default_params,
                              description="ROS 2 parameters file of the node"),
        DeclareLaunchArgument("namespace", default_value="",
                              description="namespace of the node and its relative topics"),
        DeclareLaunchArgument("image", default_value="/camera/image_raw",
                              description="sensor_msgs/Image input (rgb8, bgr8, rgba8, bgra8, mono8)"),
        DeclareLaunchArgument("camera_info", default_value="/camera/camera_info",
                              description="sensor_msgs/CameraInfo of the image"),
        DeclareLaunchArgument("depth", default_value="/camera/depth",
                              description="registered depth image (32FC1 m or 16UC1 mm), optional"),
        DeclareLaunchArgument("detections", default_value="/detections",
                              description="vision_msgs/Detection2DArray from another detector "
                                          "(used with object_source: external)"),
        DeclareLaunchArgument("log_level", default_value="info",
                              description="node log level"),
        DeclareLaunchArgument("rviz", default_value="false",
                              description="also start RViz with the rviz/scorehoi.rviz layout"),
        DeclareLaunchArgument("rviz_config",
                              default_value=os.path.join(share, "rviz", "scorehoi.rviz"),
                              description="RViz configuration file"),
        DeclareLaunchArgument("fastdds_profile",
                              default_value=os.path.join(share, "config", PROFILE_NAME),
                              description="Fast DDS XML profile of the node and RViz (shared "
                                          "memory for large images); not used when the "
                                          "environment chooses the transports itself"),
    ]
    # the user's own transport choice wins; otherwise the launched processes get the profile
    transport = [] if user_transport_choice(os.environ) else [
        SetEnvironmentVariable(PROFILE_ENV, LaunchConfiguration("fastdds_profile"))]
    node = LifecycleNode(
        package="scorehoi_node",
        executable="scorehoi_node",
        name="scorehoi",
        namespace=LaunchConfiguration("namespace"),
        output="screen",
        emulate_tty=True,
        parameters=[LaunchConfiguration("params_file")],
        remappings=[
            ("camera/image_raw", LaunchConfiguration("image")),
            ("camera/camera_info", LaunchConfiguration("camera_info")),
            ("camera/depth", LaunchConfiguration("depth")),
            ("detections", LaunchConfiguration("detections")),
        ],
        arguments=["--ros-args", "--log-level", LaunchConfiguration("log_level")],
    )
    rviz = Node(package="rviz2", executable="rviz2", name="scorehoi_rviz", output="log",
                arguments=["-d", LaunchConfiguration("rviz_config")],
                remappings=[("/camera/image_raw", LaunchConfiguration("image"))],
                condition=IfCondition(LaunchConfiguration("rviz")))
    return LaunchDescription(args + transport + [node, rviz])
