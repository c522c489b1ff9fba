"""ament_python package `scorehoi_node` (colcon on a ROS 2 install, or pip in a venv)."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "scorehoi_node"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.xml")),
        (f"share/{PACKAGE}/rviz", glob("rviz/*.rviz")),
    ],
    package_data={
        "scorehoi_node.core.objects": ["assets/*.npz", "assets/LICENSES.md"],
        "scorehoi_node.core.synth": ["assets/*.npz", "assets/LICENSES.md"],
        "scorehoi_node.core.diffusion": ["weights/*.safetensors", "weights/*.json", "weights/*.md"],
        "scorehoi_node.core.estimate": ["weights/*.safetensors", "weights/*.json", "weights/*.md"],
    },
    install_requires=["setuptools"],
    zip_safe=False,
    maintainer="ScoreHOI node maintainers",
    maintainer_email="scorehoi@example.com",
    description="ScoreHOI human-object interaction perception node for ROS 2",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "scorehoi = scorehoi_node.cli:main",
            "scorehoi_node = scorehoi_node.ros.node:main",
        ],
    },
)
