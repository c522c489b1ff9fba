"""The `scorehoi` command: run the node, run the demo."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="ScoreHOI human-object interaction perception node.")


@app.command()
def node(params: Optional[Path] = typer.Option(
        None, "--params", exists=True, dir_okay=False,
        help="ROS 2 parameters file (the one the launch file uses, e.g. config/scorehoi.yaml)."),
         ros_args: Optional[list[str]] = typer.Argument(
             None, help="extra ROS arguments after --, e.g. -- -r camera/image_raw:=/cam/image")) -> None:
    """Run the node without `ros2 launch` (the pip path)."""
    from scorehoi_node.ros.node import run

    args = ["--ros-args"]
    if params is not None:
        args += ["--params-file", str(params)]
    extra = list(ros_args or [])
    if extra and extra[0] == "--ros-args":
        extra = extra[1:]
    run(args + extra)


def _demo_images() -> list[tuple[str, "object"]]:
    """Real photos of people that ship inside installed packages (no download)."""
    import cv2
    import ultralytics

    assets = Path(ultralytics.__file__).parent / "assets"
    out = []
    for name in ("zidane.jpg", "bus.jpg"):
        bgr = cv2.imread(str(assets / name))
        if bgr is not None:
            out.append((name, bgr[:, :, ::-1].copy()))
    return out


@app.command()
def demo(out: Path = typer.Option(Path("demo_out"), help="output folder"),
         hfov: float = typer.Option(60.0, help="assumed horizontal field of view [deg]")) -> None:
    """Run the pipeline on the embedded default input and print a per-frame summary."""
    import cv2
    from rich.console import Console
    from rich.table import Table

    from scorehoi_node.core.config import PipelineConfig
    from scorehoi_node.core.detect.mediapipe_pose import MediaPipePoseDetector
    from scorehoi_node.core.pipeline import Pipeline
    from scorehoi_node.core.types import CameraIntrinsics, Frame
    from scorehoi_node.core.viz import draw_result

    console = Console()
    out.mkdir(parents=True, exist_ok=True)
    images = _demo_images()
    if not images:
        raise typer.BadParameter("no demo images found in the installed packages")
    cfg = PipelineConfig()
    pipeline = Pipeline(cfg, detector=MediaPipePoseDetector(
        cfg.mediapipe_model_complexity, cfg.min_person_score, static_image_mode=True))
    table = Table(title="scorehoi demo (pipeline: mediapipe -> skeleton fit)")
    for col in ("frame", "size", "persons", "pelvis xyz [m]", "height [m]", "detect ms",
                "estimate ms"):
        table.add_column(col)
    summary = []
    for i, (name, rgb) in enumerate(images):
        h, w = rgb.shape[:2]
        frame = Frame(rgb=rgb, camera=CameraIntrinsics.from_fov(w, h, hfov), stamp_ns=i,
                      frame_id="camera")
        res = pipeline.step(frame)
        people = []
        for inter in res.interactions:
            j = inter.human.joint_positions
            height = float(j[3, 1] - 0.5 * (j[12, 1] + j[15, 1]))  # head to ankles, camera y
            people.append({"pelvis_m": [round(float(x), 3) for x in j[0]],
                           "head_to_ankle_m": round(abs(height), 3)})
        summary.append({"frame": name, "width": w, "height": h, "persons": people,
                        "stage_ms": {k: round(v, 1) for k, v in res.stage_ms.items()}})
        cv2.imwrite(str(out / f"{Path(name).stem}_overlay.png"), draw_result(frame, res)[:, :, ::-1])
        table.add_row(name, f"{w}x{h}", str(len(people)),
                      "; ".join(" ".join(f"{x:+.2f}" for x in p["pelvis_m"]) for p in people) or "-",
                      "; ".join(f"{p['head_to_ankle_m']:.2f}" for p in people) or "-",
                      f"{res.stage_ms['detect']:.1f}", f"{res.stage_ms['estimate']:.1f}")
    pipeline.close()
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    console.print(table)
    console.print(f"wrote {out / 'summary.json'} and overlays in {out}/")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
