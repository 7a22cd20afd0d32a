"""The package's layers (docs/development.md, "Layout"): every module of spertmt, top-level ones included, imports
only modules of its own layer or of the layers below it."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "spertmt"

# From the bottom up; a module or package of spertmt by its first name under spertmt/.
LAYERS = [
    {"_version", "files", "layout", "repos", "config", "runtime"},  # the foundation: names, settings, the process
    {"ops"},
    {"data"},
    {"evaluate"},
    {"model"},
    {"inference"},
    {"training"},
    {"experiment"},
    {"serve"},  # the HTTP service: the inference layer behind an ASGI app
    {"info", "testing", "cli", "__init__", "__main__"},  # the front doors
]
LAYER_OF = {name: level for level, names in enumerate(LAYERS) for name in names}


def _top_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else path.stem


def _imported(path: Path) -> list[str]:
    """The first names under spertmt/ of everything `path` imports from the package."""
    relative = path.relative_to(PACKAGE).parts[:-1]
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's own package
                base = list(relative)[: len(relative) + 1 - node.level]
                target = base + (node.module.split(".") if node.module else [])
                if not target:  # `from . import ops`: the names are modules
                    names += [alias.name for alias in node.names]
                    continue
            elif node.module and node.module.split(".")[0] == "spertmt":
                target = node.module.split(".")[1:] or [alias.name for alias in node.names]
            else:
                continue
            names.append(target[0])
        elif isinstance(node, ast.Import):
            names += [alias.name.split(".")[1] for alias in node.names
                      if alias.name.startswith("spertmt.")]
    return names


def test_every_module_has_a_layer():
    modules = {_top_name(path) for path in PACKAGE.rglob("*.py")}
    assert modules - set(LAYER_OF) == set(), "add the new module to LAYERS (and to the Layout of docs/development.md)"


def test_layers_import_only_their_own_or_lower_layers():
    checked = 0
    for path in sorted(PACKAGE.rglob("*.py")):
        own = LAYER_OF[_top_name(path)]
        for name in _imported(path):
            assert LAYER_OF[name] <= own, (f"{path.relative_to(PACKAGE)} (layer {own}) imports {name} "
                                           f"(layer {LAYER_OF[name]})")
            checked += 1
    assert checked > 100  # the walk found the imports


def test_the_check_catches_an_import_upwards(tmp_path):
    """The rule itself: a model module importing training would be caught."""
    model = tmp_path / "model"
    model.mkdir()
    module = model / "bad.py"
    module.write_text("from ..training.trainer import train\nfrom ..data import documents\n")
    global PACKAGE
    saved, PACKAGE = PACKAGE, tmp_path
    try:
        assert _imported(module) == ["training", "data"]
    finally:
        PACKAGE = saved


def test_no_function_is_longer_than_100_lines():
    """Long functions hide decisions (issue 46): split one that grows past a screenful and a half."""
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 100:
                long.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} "
                            f"({node.end_lineno - node.lineno + 1} lines)")
    assert long == []


def _module_imports() -> dict[str, set[str]]:
    """Each module of spertmt (dotted) and the modules of spertmt it imports when it runs, lazy
    imports inside functions included, `if TYPE_CHECKING:` blocks left out (types only)."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ("spertmt",) + path.relative_to(PACKAGE).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        tree = ast.parse(path.read_text())
        typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                       and ast.unparse(node.test).endswith("TYPE_CHECKING") for n in ast.walk(node)}
        targets = set()
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
                module = ".".join(base + ([node.module] if node.module else []))
                for alias in node.names:
                    targets.add(f"{module}.{alias.name}" if f"{module}.{alias.name}" in modules else module)
            elif isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def test_no_import_cycles():
    """Modules that import each other, even lazily, are one module in two files (issue 46 found
    inference/export.py and runtimes.py so)."""
    graph = _module_imports()
    assert len(graph) > 50 and sum(map(len, graph.values())) > 100  # the walk found the modules and imports
    cycles = []

    def visit(module, path):
        for target in sorted(graph[module]):
            if target in path:
                cycles.append(path[path.index(target):] + [target])
            elif target not in done:
                visit(target, path + [target])
        done.add(module)

    done: set[str] = set()
    for module in sorted(graph):
        if module not in done:
            visit(module, [module])
    assert cycles == []
