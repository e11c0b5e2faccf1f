"""Optional ``torch.compile`` of a model's hot sub-modules, with an eager fallback.

Compiling the sub-modules (backbone and heads) and the model's loss arithmetic
(``ADPD.loss_by_feat``: tensors in and out, one shape for every batch) rather than
mmengine's ``train_step`` keeps the optimizer step, the loss bookkeeping, the target
building and the data preprocessor eager, which avoids graph breaks; the network and the
~150 small loss kernels are where the time goes.

Each part is compiled IN PLACE: a sub-module through ``nn.Module.compile``'s hook, so
parameter names, ``state_dict`` keys and checkpoints stay exactly those of the eager model
(wrapping with ``torch.compile(module)`` would add an ``_orig_mod.`` prefix to every key);
a method as an instance attribute that shadows it (no state of its own); a copy or a
pickle of the model gets the eager method back, as torch drops a compiled module's
compiled call.

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
bounds the compiled training loop at batch 128 (benchmarks/README.md). Their outputs live in a memory pool that
the next iteration's replay reuses; :func:`mark_step` at the start of every iteration
(``ADPDCompileHook`` does it) tells torch where an iteration begins, so the parts chain
within one iteration whatever the heuristic would guess.
"""
from __future__ import annotations

import inspect
import logging
from typing import Callable, Iterable, List

import torch
from mmengine.logging import print_log

# sub-modules of the model, and methods of the model itself (``loss_by_feat``: ADPD's
# loss terms, tensors in and out with one shape for every batch)
DEFAULT_PARTS = ('backbone', 'anatomy_head', 'pathology_head', 'loss_by_feat')


def _warn(msg: str) -> None:
    print_log(msg, 'current', logging.WARNING)


def _guard(compiled: Callable, eager: Callable, fall_back: Callable[[], None],
           name: str) -> Callable:
    """``compiled`` wrapped so that a failure at a call runs ``eager`` instead and, if that
    succeeds, calls ``fall_back()`` (the part stays eager from then on) with a warning;
    if ``eager`` fails too, the error is a real one and propagates."""

    def call(*args, **kwargs):
        try:
            return compiled(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - decided below by re-running eagerly
            out = eager(*args, **kwargs)  # a real error raises here
            fall_back()
            first_line = (str(exc).strip().splitlines() or [''])[0][:300]
            _warn(f'torch.compile of {name} failed at its first use '
                  f'({type(exc).__name__}: {first_line}); running it eager')
            return out

    return call


class _CompiledMethod:
    """A model's method compiled by :func:`compile_submodules`: an instance attribute that
    shadows the class's method. A copy (deepcopy, EMA) or a pickle of the model gets the
    class's eager method instead: the compiled call is bound to the original instance and
    cannot be pickled."""

    def __init__(self, call: Callable, owner: torch.nn.Module, name: str) -> None:
        self.call, self.owner, self.name = call, owner, name

    def __call__(self, *args, **kwargs):
        return self.call(*args, **kwargs)

    def __reduce__(self):
        # rebuilt as getattr(<the owner's copy>, name): the class's method, bound
        return getattr, (self.owner, self.name)


def is_compiled(model: torch.nn.Module, name: str) -> bool:
    """Whether part ``name`` of ``model`` (a sub-module or a method) runs compiled now."""
    part = getattr(model, name, None)
    if isinstance(part, torch.nn.Module):
        return part._compiled_call_impl is not None
    return isinstance(vars(model).get(name), _CompiledMethod)


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
        part = getattr(model, name, None)
        is_module = isinstance(part, torch.nn.Module)
        if is_compiled(model, name):
            compiled.append(name)  # already compiled (e.g. a second run() of the runner)
            continue
        if not is_module and not (inspect.ismethod(part) and part.__self__ is model):
            continue  # the model has no such part
        try:
            fn = torch.compile(part._call_impl if is_module else part, **compile_kwargs)
        except Exception as exc:  # noqa: BLE001 - any backend failure -> eager fallback
            _warn(f'torch.compile of {name} failed ({type(exc).__name__}: {exc}); '
                  'running it eager')
            continue
        if is_module:
            part._compiled_call_impl = _guard(
                fn, part._call_impl,
                lambda m=part: setattr(m, '_compiled_call_impl', None), name)
        else:
            # an instance attribute shadows the method; removing it restores the method
            setattr(model, name, _CompiledMethod(
                _guard(fn, part, lambda n=name: vars(model).pop(n, None), name), model, name))
        compiled.append(name)
    if compiled:
        print_log(f'torch.compile: compiled {", ".join(compiled)} '
                  f'({compile_kwargs or "default options"}; the first iterations are slow '
                  'while kernels compile)', 'current')
    return compiled
