"""The library's layering shows in its folders, and no module imports a layer above its own."""

import ast
import pathlib

import stackae

PACKAGE = pathlib.Path(stackae.__file__).parent
# Each layer may import its own and the layers listed before it.
ORDER = ("errors", "core", "shared", "procedures", "workdir", "experiments", "edge")
SHARED = {"config", "methods", "data", "files", "decoded", "provenance", "plots", "configs"}  # used by every layer above core
EDGE = {"cli", "__init__"}  # the scripts' flag parsing, and the public API


def layer_of(module: str) -> str:
    parts = module.split(".")[1:]
    if parts[0] in ORDER:
        return parts[0]
    assert parts[0] in SHARED | EDGE, f"{module} is in no layer: move it into a layer folder or name it in SHARED"
    return "edge" if parts[0] in EDGE else "shared"


def modules():
    for path in PACKAGE.rglob("*.py"):
        yield ".".join(("stackae", *path.relative_to(PACKAGE).with_suffix("").parts)), path


def stackae_imports(path: pathlib.Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("stackae"):
            yield node.module
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.startswith("stackae"))


def test_every_module_sits_in_a_layer():
    layers = {layer_of(module) for module, _ in modules()}
    assert {"core", "procedures", "workdir", "experiments"} <= layers


def test_no_module_imports_a_layer_above_its_own():
    upward = [f"{module} imports {imported}" for module, path in modules() for imported in stackae_imports(path)
              if imported != "stackae" and ORDER.index(layer_of(imported)) > ORDER.index(layer_of(module))]
    assert not upward, upward
