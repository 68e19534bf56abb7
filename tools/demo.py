#!/usr/bin/env python
"""Classify a video with a trained model: a table, a JSON file, an annotated copy and a timeline.

    python tools/demo.py video.mp4
    python tools/demo.py video.mp4 --checkpoint output/run/checkpoints/checkpoint_best.pyth --topk 3
    python tools/demo.py video.mkv --output out/video.webm --window-seconds 2 --stride-seconds 1
    python tools/demo.py video.mp4 --explain out/explained.png    # where the model looked, per window
    python tools/demo.py --stream 0 --json out/live.jsonl          # camera 0; also rtsp://..., a path, - (stdin)

Without --checkpoint it takes the best checkpoint of the main job (the OUTPUT_DIR of --cfg,
configs/synthetic_regionvit.yaml by default; its newest epoch checkpoint when the run never
validated) and the class names saved in it. Without --cfg the
model is built from the config saved in the checkpoint. Config overrides go after --opts.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading

from videoregion.config import load_config
from videoregion.data.readers import open_video
from videoregion.errors import ConfigError, VideoRegionError, one_line
from videoregion.inference import (
    ENCODERS,
    build_predictor,
    checkpoint_config,
    find_checkpoint,
    format_table,
    plot_timeline,
    write_annotated_video,
)
from videoregion.inference.build import build_export_predictor, export_config
from videoregion.inference.explain import explain_video, layer_grad_cam, strip_windows
from videoregion.inference.export import format_of
from videoregion.inference.onnx_model import OnnxModel
from videoregion.inference.stream import StreamClassifier, StreamSource
from videoregion.inference.visualize import AnnotatedStream, output_size, plot_explanations

DEFAULT_CFG = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "configs",
                                            "synthetic_regionvit.yaml"))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Classify a video file with a trained videoregion model (README: Demo).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n" + __doc__.split("\n\n")[1] + "\n\n" + __doc__.split("\n\n")[2],
    )
    parser.add_argument("video", nargs="?", help="video file (mp4, mkv, webm, avi, ...); none with --stream")
    parser.add_argument("--stream", metavar="SOURCE", help="classify live input instead: a camera index (0: "
                        "/dev/video0), a URL or path FFmpeg opens (rtsp://, http://), or - for a video stream on "
                        "stdin; one line per window as it completes; Ctrl-C ends it")
    parser.add_argument("--stream-queue", type=int, default=64, metavar="N", help="frames that may wait for the "
                        "model with --stream; beyond that the oldest is dropped (default 64)")
    parser.add_argument("--explain", metavar="OUT.png", help="where the model looked (Grad-CAM): a strip of frames "
                        "per window with its heat map and top label; the annotated video gets the heat too")
    parser.add_argument("--cfg", dest="cfg_files", action="append", default=[], metavar="CFG",
                        help="config YAML (repeat to merge); default: the checkpoint's own config, and "
                             "configs/synthetic_regionvit.yaml to find the checkpoint")
    parser.add_argument("--checkpoint", metavar="PATH", help="checkpoint file (default: DEMO.CHECKPOINT_FILE_PATH, "
                        "else OUTPUT_DIR/checkpoints/checkpoint_best.pyth, else the newest epoch checkpoint there)")
    parser.add_argument("--model", metavar="FILE.onnx", help="an ONNX export of tools/export.py, run by onnxruntime "
                        "on the CPU; its class names and preprocessing come from the file (no checkpoint or config)")
    parser.add_argument("--labels", metavar="FILE", help="class names, one per line or json {name: index} "
                        "(default: the names saved in the checkpoint)")
    parser.add_argument("--topk", type=int, metavar="K", help="classes listed per window and for the video (DEMO.TOPK)")
    parser.add_argument("--output", metavar="OUT.mp4", help="annotated video; .mp4/.mkv/.mov (h264), .webm (VP9), "
                        ".avi (MPEG-4) (default: demo_output/<video name>.mp4)")
    parser.add_argument("--json", metavar="OUT.json", help="predictions as JSON (default: beside --output); with "
                        "--stream one JSON line appended per window (no default)")
    parser.add_argument("--timeline", metavar="OUT.png", help="score timeline (default: beside --output)")
    parser.add_argument("--window-seconds", type=float, metavar="S", help="window length (DEMO.WINDOW_SECONDS; "
                        "default one clip)")
    parser.add_argument("--stride-seconds", type=float, metavar="S", help="step between windows "
                        "(DEMO.STRIDE_SECONDS; default half a window)")
    parser.add_argument("--device", choices=["cpu", "cuda"], help="default: cuda when available")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what is loaded")
    parser.add_argument("--opts", nargs=argparse.REMAINDER, default=[], metavar="KEY VALUE",
                        help="config overrides, e.g. --opts DEMO.OUTPUT_SHORT_SIDE 0 TEST.NUM_SPATIAL_CROPS 3")
    return parser.parse_args(argv)


def apply_flags(cfg, args: argparse.Namespace) -> None:
    """The command-line flags over the config's DEMO section."""
    for key, value in [("LABEL_FILE_PATH", args.labels), ("TOPK", args.topk), ("WINDOW_SECONDS", args.window_seconds),
                       ("STRIDE_SECONDS", args.stride_seconds), ("DEVICE", args.device)]:
        if value is not None:
            cfg.DEMO[key] = value
    if cfg.DEMO.TOPK < 1:
        raise ConfigError(f"--topk / DEMO.TOPK must be at least 1, got {cfg.DEMO.TOPK}")


def resolve(args: argparse.Namespace):
    """(config, checkpoint path, checkpoint state): --cfg wins; else the checkpoint's saved config."""
    locating = load_config(args.cfg_files or [DEFAULT_CFG], args.opts, freeze=False)
    checkpoint, state = find_checkpoint(locating, explicit=args.checkpoint or "")
    cfg = locating if args.cfg_files else (checkpoint_config(state, checkpoint, args.opts) or locating)
    apply_flags(cfg, args)
    cfg.freeze()
    return cfg, checkpoint, state


def resolve_export(args: argparse.Namespace):
    """(config, the export's path, predictor) for --model: the settings stored in the export, then the flags."""
    if args.checkpoint or args.cfg_files:
        raise ConfigError("--model takes its settings from the export: leave out --checkpoint and --cfg")
    if format_of(args.model) != "onnx":
        raise ConfigError(f"--model {args.model}: the demo runs ONNX exports (.onnx)")
    model = OnnxModel(args.model)
    cfg = export_config(model.metadata, args.model, args.opts)
    apply_flags(cfg, args)
    cfg.freeze()
    return cfg, args.model, build_export_predictor(cfg, model, model.class_names)


def make_predictor(args: argparse.Namespace):
    """(config, model file, Predictor) from --model FILE.onnx, else from the checkpoint and config."""
    if args.model:
        return resolve_export(args)
    cfg, checkpoint, state = resolve(args)
    return cfg, checkpoint, build_predictor(cfg, checkpoint, state=state)


def output_paths(args: argparse.Namespace) -> tuple[str, str, str]:
    video = args.output or os.path.join("demo_output", os.path.splitext(os.path.basename(args.video))[0] + ".mp4")
    stem, ext = os.path.splitext(video)
    if ext.lower() not in ENCODERS:
        what = ext or "a file without extension"
        raise ConfigError(f"--output {video}: cannot write {what}; use one of {sorted(ENCODERS)}")
    return video, args.json or stem + ".json", args.timeline or stem + "_timeline.png"


def run(args: argparse.Namespace) -> None:
    open_video(args.video, backend="pyav").close()  # a bad video fails here, before the model loads
    video_out, json_out, timeline_out = output_paths(args)
    if args.explain:
        layer_grad_cam()  # captum missing: say so before the model loads
    cfg, checkpoint, predictor = make_predictor(args)
    print(f"{cfg.MODEL.NAME} ({len(predictor.class_names)} classes) from {checkpoint}, on {predictor.device}",
          flush=True)
    prediction = predictor.predict(args.video, progress=True)
    print(format_table(prediction), flush=True)
    explanations = None
    if args.explain:
        explanations = explain_video(predictor, args.video, prediction,
                                     keep_images=strip_windows(len(prediction.windows)))
        plot_explanations(explanations, args.explain, title=f"{os.path.basename(args.video)}: where "
                          f"{cfg.MODEL.NAME} looked (Grad-CAM of each window's top class)")

    os.makedirs(os.path.dirname(os.path.abspath(json_out)), exist_ok=True)
    with open(json_out, "w") as f:
        json.dump({**prediction.to_dict(), "checkpoint": checkpoint, "model": cfg.MODEL.NAME}, f, indent=2)
    plot_timeline(prediction, timeline_out)
    short_side = cfg.DEMO.OUTPUT_SHORT_SIDE or None
    frames, height, width = write_annotated_video(prediction, predictor.open(args.video, short_side), video_out,
                                                  short_side=cfg.DEMO.OUTPUT_SHORT_SIDE, progress=True,
                                                  explanations=explanations)
    print(f"\nwrote {json_out}\nwrote {timeline_out}\nwrote {video_out} ({frames} frames, {width}x{height})")
    if args.explain:
        print(f"wrote {args.explain}")


def run_stream(args: argparse.Namespace) -> None:
    """--stream: one line per window as it completes (and a JSON line, and annotated frames); Ctrl-C ends it."""
    if args.output and os.path.splitext(args.output)[1].lower() not in ENCODERS:
        raise ConfigError(f"--output {args.output}: cannot write that; use one of {sorted(ENCODERS)}")
    if args.stream_queue < 1:
        raise ConfigError(f"--stream-queue must be at least 1, got {args.stream_queue}")
    source = StreamSource.parse(args.stream)
    cfg, checkpoint, predictor = make_predictor(args)
    print(f"{cfg.MODEL.NAME} ({len(predictor.class_names)} classes) from {checkpoint}, on {predictor.device}; "
          f"reading {source.url}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())  # finish the window at hand, flush, exit 0
    short_side = cfg.DEMO.OUTPUT_SHORT_SIDE
    outputs: dict = {}

    def start(fps: float) -> None:
        window, stride = predictor.window_span(fps)
        print(f"{fps:.2f} fps; a window of {window:.2f} s every {stride:.2f} s", flush=True)
        if args.json:
            os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
            outputs["json"] = open(args.json, "a")
        outputs["fps"] = fps

    def result(r) -> None:
        w = r.window
        print(f"window {w.index:>4}  {w.start:7.2f}-{w.end:<7.2f}  "
              + "  ".join(f"{name} {score:.3f}" for name, _, score in r.topk)
              + f"  ({r.latency * 1000:.0f} ms{f', {r.dropped} dropped' if r.dropped else ''})", flush=True)
        if "json" in outputs:
            outputs["json"].write(json.dumps(r.to_dict()) + "\n")
            outputs["json"].flush()

    def frame(f, latest) -> None:
        if "video" not in outputs:
            h, w = f.display.shape[:2]
            outputs["video"] = AnnotatedStream(args.output, outputs["fps"], h, w)
        header = f"{f.index / outputs['fps']:5.1f} s" + (f"  window {latest.window.start:.1f}-{latest.window.end:.1f} s"
                                                         if latest else "  waiting for the first window")
        outputs["video"].write(f.display, f.index, header, latest.topk if latest else [])

    try:
        summary = StreamClassifier(predictor, capacity=args.stream_queue).run(
            source, result, on_frame=frame if args.output else None, stop=stop, on_start=start,
            display_size=(lambda h, w: output_size(h, w, short_side)) if args.output else None)
    finally:
        if "json" in outputs:
            outputs["json"].close()
        if "video" in outputs:
            outputs["video"].close()
    how = "stopped" if summary.stopped else "the stream ended"
    print(f"{how}: {summary.frames} frames, {summary.windows} windows, {summary.dropped} frames dropped "
          f"(the model could not keep up)" if summary.dropped else
          f"{how}: {summary.frames} frames, {summary.windows} windows, no frame dropped", flush=True)
    for key, path in (("json", args.json), ("video", args.output)):
        if key in outputs:
            print(f"wrote {path}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s: %(message)s")
    # library warnings (torch's about pickle protocols, ...) only with --verbose: errors stay one line
    logging.captureWarnings(True)
    logging.getLogger("py.warnings").setLevel(logging.WARNING if args.verbose else logging.ERROR)
    if bool(args.video) == bool(args.stream):
        print("error: give a video file or --stream SOURCE (one of them)", file=sys.stderr)
        return 2
    if args.stream and args.explain:
        print("error: --explain explains a video file, not --stream", file=sys.stderr)
        return 2
    if args.model and args.explain:
        print("error: --explain needs the PyTorch model (--checkpoint), not an export (--model)", file=sys.stderr)
        return 2
    try:
        run_stream(args) if args.stream else run(args)
    except (VideoRegionError, OSError) as e:  # OSError: an output path that cannot be written
        print(f"error: {one_line(e)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
