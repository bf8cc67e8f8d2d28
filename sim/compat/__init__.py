"""What sim relies on in its libraries beyond their documented API, one module each.

``sim.compat.simpy`` holds what the project reads of SimPy's internals and writes down
what the engine's event handling rests on; ``sim.compat.hydra`` holds every use of
Hydra's (and OmegaConf's) internals and of the text of their error messages. Each is
checked against the installed library by ``tests/test_compat.py``: that test is what to
run before raising the upper bounds on those libraries in ``pyproject.toml``.

Nothing here imports the rest of ``sim``, so every layer above the engine may use it.
"""
