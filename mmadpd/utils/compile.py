"""Optional ``torch.compile`` of a model's hot sub-modules, with an eager fallback.

Compiling the sub-modules (backbone and heads) rather than mmengine's ``train_step`` keeps
the optimizer step, the loss bookkeeping, the target building and the data preprocessor
eager, which avoids graph breaks; the network itself is where the time goes.

Each part is compiled IN PLACE (``nn.Module.compile``): parameter names, ``state_dict``
keys and checkpoints stay exactly those of the eager model (wrapping with
``torch.compile(module)`` would add an ``_orig_mod.`` prefix to every key).

``torch.compile`` is lazy: most failures (no C++ compiler / Triton, an unsupported op)
surface at the first call, not here. Every compiled part is therefore guarded: if a
compiled call raises and the same call succeeds eagerly, the part falls back to eager for
good with one warning naming it and the error; if the eager call fails too, the error is
a real one and is raised as usual. The guard covers the compiled FORWARD call only: a
failure inside a compiled backward surfaces at ``loss.backward()`` and stops the run.
(Checked on the CPU: every ADPD part trains compiled with the inductor backend; the
``aot_eager`` debugging backend of torch 2.14 fails in the anatomy head's backward with a
view/stride error, so do not use it for ADPD.)

CUDA graphs (``mode='reduce-overhead'``, also part of ``'max-autotune'``): each compiled
part's kernels replay as one graph launch, which removes the per-kernel host cost that
bounds the compiled training loop at batch 128 (H100: 99 ms per iteration for 35 ms of GPU
kernels, benchmarks/h100_2026-11-26_fast.json). Their outputs live in a memory pool that
the next iteration's replay reuses; :func:`mark_step` at the start of every iteration
(``ADPDCompileHook`` does it) tells torch where an iteration begins, so the three parts
chain within one iteration whatever the heuristic would guess.
"""
from __future__ import annotations

import logging
from typing import Callable, Iterable, List, Optional

import torch
from mmengine.logging import print_log

DEFAULT_PARTS = ('backbone', 'anatomy_head', 'pathology_head')


def _warn(msg: str) -> None:
    print_log(msg, 'current', logging.WARNING)


def _guard(module: torch.nn.Module, compiled: Callable, name: str) -> Callable:
    """Wrap ``module``'s compiled call so that a compilation failure falls back to eager."""

    def call(*args, **kwargs):
        try:
            return compiled(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - decided below by re-running eagerly
            out = module._call_impl(*args, **kwargs)  # a real error raises here
            module._compiled_call_impl = None
            first_line = (str(exc).strip().splitlines() or [''])[0][:300]
            _warn(f'torch.compile of {name} failed at its first use '
                  f'({type(exc).__name__}: {first_line}); running it eager')
            return out

    return call


def mark_step() -> None:
    """Mark the start of a training / inference iteration for CUDA-graph trees
    (``torch.compiler.cudagraph_mark_step_begin``; a counter increment, nothing else,
    without CUDA graphs). Outputs of compiled parts from earlier iterations must not be
    read after the next iteration's compiled calls (torch raises if they are)."""
    mark = getattr(getattr(torch, 'compiler', None), 'cudagraph_mark_step_begin', None)
    if mark is not None:
        mark()


def set_compiler_stance(stance: str):
    """Set torch's compiler stance (``torch.compiler.set_stance``, torch >= 2.6) now.
    Returns an object whose ``__exit__(None, None, None)`` restores the previous stance,
    or None (with a log line) on a torch without stances."""
    setter = getattr(getattr(torch, 'compiler', None), 'set_stance', None)
    if setter is None:
        _warn(f'torch {torch.__version__} has no compiler stances: {stance!r} not set')
        return None
    return setter(stance)


def compile_submodules(model: torch.nn.Module, parts: Iterable[str] = DEFAULT_PARTS,
                       **compile_kwargs) -> List[str]:
    """Compile ``model.<part>`` in place for each existing part (see the module
    docstring); ``compile_kwargs`` go to :func:`torch.compile` (``None`` values dropped).

    Returns the names that were compiled. When torch.compile is unavailable or raises,
    the part stays eager and one clear log line says why (the run goes on).
    """
    compile_kwargs = {k: v for k, v in compile_kwargs.items() if v is not None}
    compiled: List[str] = []
    if not hasattr(torch, 'compile'):
        _warn('torch.compile unavailable: running eager')
        return compiled
    for name in parts:
        module: Optional[torch.nn.Module] = getattr(model, name, None)
        if not isinstance(module, torch.nn.Module):
            continue
        if module._compiled_call_impl is not None:
            compiled.append(name)  # already compiled (e.g. a second run() of the runner)
            continue
        try:
            fn = torch.compile(module._call_impl, **compile_kwargs)
        except Exception as exc:  # noqa: BLE001 - any backend failure -> eager fallback
            _warn(f'torch.compile of {name} failed ({type(exc).__name__}: {exc}); '
                  'running it eager')
            continue
        module._compiled_call_impl = _guard(module, fn, name)
        compiled.append(name)
    if compiled:
        print_log(f'torch.compile: compiled {", ".join(compiled)} '
                  f'({compile_kwargs or "default options"}; the first iterations are slow '
                  'while kernels compile)', 'current')
    return compiled
