"""Export the built model folder to ONNX (fp32, int8) and OpenVINO (fp32), offline and once.

sentence-transformers' own `backend="onnx"` / `"openvino"` switch needs optimum, and no optimum
installs beside transformers 5 (optimum-onnx 0.1 pins transformers<4.58; optimum-intel 2.2
downgrades transformers to 5.5 and torch to a CUDA build). So the variants are made with the
runtimes' own tools, which need no optimum and no network:

- ``onnx/model.onnx``: `torch.onnx.export` of the BertModel (last hidden state; pooling and
  normalisation stay in numpy, as sentence-transformers does them);
- ``onnx/model_qint8_avx2.onnx``: onnxruntime's dynamic quantisation of its MatMuls, s8 weights
  per channel (what optimum's avx2 config does);
- ``openvino/openvino_model.xml``: OpenVINO's conversion of the fp32 ONNX graph, fp32 kept.

A stamp (``qa_export.json``) records the export version and the sha256 of the weights it was
made from: a second run over the same weights does nothing.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from qa.errors import ModelNotFound, QAError

logger = logging.getLogger(__name__)

# Bump when a file written from the same weights would change.
EXPORT_VERSION = 1
STAMP = "qa_export.json"
ONNX_FP32 = "onnx/model.onnx"
ONNX_INT8 = "onnx/model_qint8_avx2.onnx"
OPENVINO_FP32 = "openvino/openvino_model.xml"
DEFAULT_DEST = Path(__file__).resolve().parent.parent / "models" / "multilingual-e5-small"


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _weights(model_dir: Path) -> Path:
    weights = model_dir / "model.safetensors"
    if not weights.is_file():
        raise ModelNotFound(f"找不到模型权重：{weights}。请先运行 `python -m qa.model_build`。")
    return weights


def is_current(model_dir: Path) -> bool:
    """True if every variant is there and was exported by this version from the folder's weights."""
    model_dir = Path(model_dir)
    try:
        info = json.loads((model_dir / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (info.get("export_version") == EXPORT_VERSION
            and info.get("weights_sha256") == _sha256(_weights(model_dir))
            and all((model_dir / f).is_file() for f in (ONNX_FP32, ONNX_INT8, OPENVINO_FP32)))


def _export_onnx(model_dir: Path, out: Path) -> None:
    import torch  # noqa: PLC0415 - heavy
    from transformers import AutoModel  # noqa: PLC0415

    model = AutoModel.from_pretrained(str(model_dir), local_files_only=True).eval()

    class Hidden(torch.nn.Module):
        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask):
            return self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    ids = torch.ones((2, 16), dtype=torch.long)
    out.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        # The TorchScript exporter: the dynamo one needs onnxscript, which nothing else uses.
        torch.onnx.export(Hidden(model), (ids, torch.ones_like(ids)), str(out), dynamo=False,
                          input_names=["input_ids", "attention_mask"], output_names=["last_hidden_state"],
                          dynamic_axes={"input_ids": {0: "batch", 1: "tokens"},
                                        "attention_mask": {0: "batch", 1: "tokens"},
                                        "last_hidden_state": {0: "batch", 1: "tokens"}},
                          opset_version=17)


def _quantise(fp32: Path, out: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic  # noqa: PLC0415

    quantize_dynamic(str(fp32), str(out), weight_type=QuantType.QInt8, per_channel=True,
                     op_types_to_quantize=["MatMul"])


def _openvino(fp32: Path, out: Path) -> None:
    import openvino as ov  # noqa: PLC0415

    out.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(ov.convert_model(str(fp32)), str(out), compress_to_fp16=False)


def export_model(model_dir: Path = DEFAULT_DEST, force: bool = False) -> Path:
    """Write the ONNX and OpenVINO variants into ``model_dir`` (left alone when already current).

    Written into a temporary folder beside the model and moved in, stamp last, so a crash leaves
    either the old variants or none, never half a file.
    """
    model_dir = Path(model_dir).resolve()
    if not force and is_current(model_dir):
        logger.info("ONNX/OpenVINO variants in %s are current, nothing to do", model_dir)
        os.utime(model_dir / STAMP)  # newer than qa_build.json again, so make sees nothing to do
        return model_dir
    started = time.perf_counter()
    digest = _sha256(_weights(model_dir))
    tmp = Path(tempfile.mkdtemp(prefix=".export-", dir=model_dir))
    try:
        _export_onnx(model_dir, tmp / ONNX_FP32)
        _quantise(tmp / ONNX_FP32, tmp / ONNX_INT8)
        _openvino(tmp / ONNX_FP32, tmp / OPENVINO_FP32)
        (model_dir / STAMP).unlink(missing_ok=True)
        for sub in ("onnx", "openvino"):
            shutil.rmtree(model_dir / sub, ignore_errors=True)
            os.replace(tmp / sub, model_dir / sub)
        for f in (model_dir / "onnx").iterdir():
            f.chmod(0o644)
        for f in (model_dir / "openvino").iterdir():
            f.chmod(0o644)
        (model_dir / STAMP).write_text(json.dumps({
            "export_version": EXPORT_VERSION, "weights_sha256": digest,
            "files": [ONNX_FP32, ONNX_INT8, OPENVINO_FP32],
            "exported_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}, indent=2) + "\n", encoding="utf-8")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info("exported ONNX fp32/int8 and OpenVINO fp32 into %s in %.1f s", model_dir,
                time.perf_counter() - started)
    return model_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qa.model_export",
                                     description="把模型目录导出为 ONNX（fp32、int8）和 OpenVINO（fp32）版本")
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST, help=f"模型目录(默认 {DEFAULT_DEST})")
    parser.add_argument("--force", action="store_true", help="即使已是最新也重新导出")
    args = parser.parse_args(argv)
    # onnxruntime's quantiser logs a line per tensor on the root logger at INFO: ours only.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logger.setLevel(logging.INFO)
    try:
        path = export_model(args.dest, force=args.force)
    except QAError as exc:
        print(f"错误: {exc.message}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
