"""Imports flow one way (pipeline -> components -> trainer -> shared, the contract imports nothing), the
offline cloud is reached only by the commands that start it, and the quick CLI commands stay quick
because they never import the heavy libraries."""

import ast
import json
import pathlib
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow(minutes=1)

ROOT = pathlib.Path(__file__).resolve().parent.parent
LAYERS = ("pipeline", "components", "trainer", "shared")  # each may import only the ones after it
HEAVY = ("tensorflow", "tfx", "apache_beam", "tensorflow_transform", "tensorflow_data_validation", "sklearn")

# The one module that may load the Vertex AI SDK when imported: the Vertex Trainer task's.
VERTEX_MODULES = ("components.training.vertex_trainer",)

# Run in a fresh interpreter: makes the named packages unimportable, then imports every module of one
# (VERTEX_MODULES last); prints the failures and whether the Vertex AI SDK was loaded before those.
_IMPORT_WITH_BLOCKED = r"""
import importlib, json, pkgutil, sys
package, blocked, vertex_modules = sys.argv[1], sys.argv[2].split(",") if sys.argv[2] else [], sys.argv[3].split(",")

class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ImportError(f"{name} is above {package}: imports run one way")
        return None

sys.meta_path.insert(0, Blocker())
failures = {}
names = sorted(m.name for m in pkgutil.walk_packages([package], package + ".") if not m.ispkg)

def load(name):
    try:
        importlib.import_module(name)
    except ImportError as error:
        failures[name] = str(error)

for name in names:
    if name not in vertex_modules:
        load(name)
vertex_sdk = "google.cloud.aiplatform" in sys.modules
for name in names:
    if name in vertex_modules:
        load(name)
print(json.dumps({"failures": failures, "vertex_sdk": vertex_sdk}))
"""


def _modules_of(package: str):
    return sorted(p for p in (ROOT / package).rglob("*.py") if p.stem != "__init__")


@pytest.mark.parametrize("layer", LAYERS[1:])
def test_a_layer_imports_without_the_layers_above_it_or_the_vertex_sdk(layer):
    """Every Vertex AI task imports a component module; the SDK (via tfx.v1) would add seconds to each start."""
    above = LAYERS[: LAYERS.index(layer)]
    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_WITH_BLOCKED, layer, ",".join(above), ",".join(VERTEX_MODULES)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"failures": {}, "vertex_sdk": False}
    assert _modules_of(layer)  # the check imported something


@pytest.mark.parametrize("layer", LAYERS[1:])
def test_no_module_of_a_layer_names_a_layer_above_it_even_inside_a_function(layer):
    above = set(LAYERS[: LAYERS.index(layer)])
    uphill = []
    for path, line, name in _imports(layer):
        if name.split(".")[0] in above:
            uphill.append(f"{path.relative_to(ROOT)}:{line} {name}")
    assert uphill == []


def _imports(package: str):
    """(file, line, imported module) for every absolute import in a package, inside functions too."""
    for path in _modules_of(package):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                yield from ((path, node.lineno, alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level:
                yield path, node.lineno, node.module or ""


def test_the_offline_cloud_is_imported_only_by_the_commands_that_start_it():
    """The fake GCS, the Vertex fake and the rehearsal are not part of a real run; only `rehearse`,
    `fake-gcs` (pipeline/commands/offline.py) and the offline cloud itself may import them."""
    offline = "pipeline.offline_cloud"
    importers = {
        str(path.relative_to(ROOT))
        for layer in LAYERS
        for path, _, name in _imports(layer)
        if name.startswith(offline) and offline.replace(".", "/") not in str(path)
    }
    assert importers == {"pipeline/commands/offline.py"}


def test_the_contract_imports_nothing():
    tree = ast.parse((ROOT / "shared" / "contract.py").read_text())
    assert not [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]
    assert [node for node in tree.body if isinstance(node, ast.Assign)]  # it does define names


@pytest.mark.parametrize("argv", [["--help"], ["registry", "list", "--registry", "{tmp}"]])
def test_quick_commands_load_no_heavy_library(argv, tmp_path):
    argv = [arg.format(tmp=tmp_path) for arg in argv]
    probe = (
        "import sys; from pipeline import cli\n"
        "try:\n    code = cli.main(sys.argv[1:])\nexcept SystemExit as end:\n    code = end.code\n"
        f"print('LOADED', [m for m in {HEAVY!r} if m in sys.modules]); sys.exit(code or 0)"
    )
    result = subprocess.run([sys.executable, "-c", probe, *argv], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "LOADED []"
