import embedpick


def test_every_public_name_resolves():
    """`__all__` is lazy (PEP 562): each name must point at a module attribute that exists."""
    missing = [name for name in embedpick.__all__ if name != "__version__" and getattr(embedpick, name, None) is None]
    assert missing == []
    assert {"Recipe", "build_index", "LoadedIndex", "run_recipe", "RemoteEncoder", "get_encoder"} <= set(embedpick.__all__)
