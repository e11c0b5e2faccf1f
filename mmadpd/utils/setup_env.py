"""Registration helper for use outside an mmengine Runner."""
from mmengine.registry import DefaultScope


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import mmdet's and mmadpd's modules so their registries are filled.

    Args:
        init_default_scope: also make ``mmdet`` the default registry scope (what a Runner
            built from an mmdet config does), so ``MODELS.build(dict(type='ADPD', ...))``
            resolves mmdet and mmadpd names alike.
    """
    from mmdet.utils import register_all_modules as mmdet_register_all

    mmdet_register_all(init_default_scope=False)
    import mmadpd  # noqa: F401  (side effect: registration)

    if init_default_scope:
        current = DefaultScope.get_current_instance()
        if current is None or current.scope_name != 'mmdet':
            DefaultScope.get_instance(f'mmadpd-{id(object())}', scope_name='mmdet')
