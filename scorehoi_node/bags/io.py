"""Write and read rosbag2 bags (mcap or sqlite3) holding rclpy messages.

Serialization is rclpy's own (CDR), so what a bag holds is byte-for-byte what a node would
publish, and a bag replays to live subscribers by publishing the raw bytes. `rosbags` provides
the container and the message definitions stored in the bag (custom `scorehoi_msgs` and the
vendored `tf2_msgs` types are registered from their .msg files), so bags written here open in
`ros2 bag`, Foxglove and `mcap_ros2`.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from rclpy.serialization import deserialize_message, serialize_message
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

_REPO_ROOT = Path(__file__).resolve().parents[2]
_CUSTOM_PACKAGES = ("scorehoi_msgs", "tf2_msgs")


def type_name(msg_or_cls: Any) -> str:
    """rclpy message (or class) -> 'pkg/msg/Name'."""
    cls = msg_or_cls if isinstance(msg_or_cls, type) else type(msg_or_cls)
    pkg = cls.__module__.split(".")[0]
    return f"{pkg}/msg/{cls.__name__}"


def message_class(name: str) -> type:
    """'pkg/msg/Name' (or 'pkg/Name') -> the rclpy message class."""
    parts = name.split("/")
    if len(parts) == 2:
        parts = [parts[0], "msg", parts[1]]
    if len(parts) != 3 or parts[1] != "msg":
        raise ValueError(f"not a message type name: {name!r}")
    try:
        return getattr(importlib.import_module(f"{parts[0]}.msg"), parts[2])
    except (ImportError, AttributeError) as e:
        raise ValueError(f"message type {name!r} is not installed: {e}") from e


def _msg_dirs(package: str) -> list[Path]:
    """Where the .msg files of `package` may be: installed share dirs, then this repo."""
    dirs = [Path(p) / "share" / package / "msg"
            for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    dirs.append(_REPO_ROOT / ("msgs" if package == "scorehoi_msgs" else f"vendor/{package}") / "msg")
    return [d for d in dirs if d.is_dir()]


@lru_cache(maxsize=1)
def typestore():
    """A rosbags typestore (ROS 2 Kilted) plus the custom message types it lacks."""
    store = get_typestore(Stores.ROS2_KILTED)
    add: dict = {}
    for package in _CUSTOM_PACKAGES:
        if any(name.startswith(f"{package}/") for name in store.fielddefs):
            continue
        dirs = _msg_dirs(package)
        if not dirs:
            raise RuntimeError(f"cannot find the .msg files of {package}")
        for f in sorted(dirs[0].glob("*.msg")):
            add.update(get_types_from_msg(f.read_text(), f"{package}/msg/{f.stem}"))
    store.register(add)
    return store


class BagWriter:
    """Context manager writing rclpy messages into a new rosbag2 directory.

    Args:
        path: bag directory to create (must not exist).
        storage: "mcap" (default) or "sqlite3".
    """

    def __init__(self, path: str | Path, storage: str = "mcap") -> None:
        plugins = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}
        if storage not in plugins:
            raise ValueError(f"storage={storage!r} is not one of {', '.join(plugins)}")
        self._writer = Writer(Path(path), version=9, storage_plugin=plugins[storage])
        self._connections: dict[str, Any] = {}
        self.path = Path(path)

    def __enter__(self) -> "BagWriter":
        self._writer.open()
        return self

    def __exit__(self, *exc) -> None:
        self._writer.close()

    def write(self, topic: str, msg: Any, stamp_ns: int) -> None:
        """Append `msg` on `topic` with receive time `stamp_ns` [ns].

        The CDR bytes are canonicalised through the rosbags typestore: rclpy leaves alignment
        padding uninitialised, so the same message would otherwise give different bytes."""
        name = type_name(msg)
        store = typestore()
        data = store.serialize_cdr(store.deserialize_cdr(serialize_message(msg), name), name)
        self.write_raw(topic, name, data, stamp_ns)

    def write_raw(self, topic: str, msgtype: str, data: bytes, stamp_ns: int) -> None:
        """Append already-serialized CDR bytes of type `msgtype` ('pkg/msg/Name')."""
        conn = self._connections.get(topic)
        if conn is None:
            conn = self._writer.add_connection(topic, msgtype, typestore=typestore())
            self._connections[topic] = conn
        self._writer.write(conn, int(stamp_ns), data)


def read_messages(path: str | Path, topics: Iterable[str] | None = None,
                  raw: bool = False) -> Iterator[tuple[str, str, int, Any]]:
    """Yield (topic, msgtype, bag time [ns], message) in bag-time order.

    Works for mcap and sqlite3 bags with standard types or the project's types. With
    `raw=True` the message is the serialized CDR bytes (for replay).
    """
    wanted = set(topics) if topics is not None else None
    with Reader(Path(path)) as reader:
        conns = [c for c in reader.connections if wanted is None or c.topic in wanted]
        if not conns:  # rosbags reads every connection when given none
            return
        classes: dict[str, type] = {}
        for conn, t, data in reader.messages(connections=conns):
            if raw:
                yield conn.topic, conn.msgtype, t, bytes(data)
                continue
            cls = classes.get(conn.msgtype)
            if cls is None:
                cls = classes[conn.msgtype] = message_class(conn.msgtype)
            yield conn.topic, conn.msgtype, t, deserialize_message(bytes(data), cls)


def bag_topics(path: str | Path) -> dict[str, tuple[str, int]]:
    """{topic: (msgtype, message count)} of a bag."""
    with Reader(Path(path)) as reader:
        return {c.topic: (c.msgtype, c.msgcount) for c in reader.connections}


def resolve_bag(path: str | Path) -> Path:
    """The rosbag2 directory `path` names: `path` itself when it holds a metadata.yaml, else
    the one bag directly below it (e.g. the folder `scorehoi synth --out` wrote, whose bag is
    OUT/bag). ValueError saying what was found otherwise."""
    path = Path(path)
    if (path / "metadata.yaml").is_file():
        return path
    if not path.is_dir():
        raise ValueError(f"{path} is not a rosbag2 directory")
    found = sorted(p.parent for p in path.glob("*/metadata.yaml"))
    if len(found) == 1:
        return found[0]
    if not found:
        raise ValueError(f"{path} is not a rosbag2 directory (no metadata.yaml) and holds none")
    raise ValueError(f"{path} holds {len(found)} bags ({', '.join(p.name for p in found)}); "
                     "pass one of them")
