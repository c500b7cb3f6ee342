"""Layers: versioned shared code that Python and JavaScript functions build in, as Lambda's layers."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from zip_helpers import zip_of

from wasmfaas import InvalidParameterError, LayerNotFoundError, SyncPlatform
from wasmfaas.runtimes import JAVASCRIPT, PYTHON

APP = """\
import importlib.metadata, pathlib
import common
import shadow
import sitepkg


def handler(event, context):
    out = {"common": common.VALUE, "shadow": shadow.VALUE, "sitepkg": sitepkg.VALUE}
    if event.get("files"):  # a layer's files are on disk where its modules' __file__ says, its metadata found
        out["data"] = (pathlib.Path(sitepkg.__file__).parent / "data.txt").read_text()
        out["version"] = importlib.metadata.version("sitepkg")
    return out
"""


def test_python_layers_in_order_under_the_functions_own_files(tmp_path: Path) -> None:
    with SyncPlatform(data_dir=tmp_path, persistent=True) as platform:
        first = platform.publish_layer_version(
            "base",
            zip_of({
                "python/common.py": "VALUE = 'base'\n",
                "python/shadow.py": "VALUE = 'layer'\n",
                "python/lib/python3.14/site-packages/sitepkg/__init__.py": "VALUE = 'site-packages'\n",
                "python/lib/python3.14/site-packages/sitepkg/data.txt": "beside the module",
                "python/lib/python3.14/site-packages/sitepkg-1.2.3.dist-info/METADATA": (
                    "Metadata-Version: 2.1\nName: sitepkg\nVersion: 1.2.3\n"
                ),
                "README": "not on any path",
            }),
            description="shared", compatible_runtimes=[PYTHON],
        )  # fmt: skip
        assert (first.name, first.version, first.compatible_runtimes) == ("base", 1, (PYTHON,))
        over_zip = zip_of({"python/common.py": "VALUE = 'over'\n"})
        over = platform.publish_layer_version("over", over_zip)
        assert platform.get_layer_version_content("over", 1) == over_zip  # the archive as published
        source = zip_of({"app.py": APP, "shadow.py": "VALUE = 'function'\n"})
        info = platform.create_function(
            "fn",
            source,
            runtime=PYTHON,
            handler="app.handler",
            layers=["base:1", f"arn:aws:lambda:us-east-1:000000000000:layer:over:{over.version}"],
        )
        assert [(layer.name, layer.version) for layer in info.layers] == [("base", 1), ("over", 1)]
        # A later layer's file replaces an earlier one's; the function's own files replace any layer's.
        expected = {"common": "over", "shadow": "function", "sitepkg": "site-packages"}
        assert platform.invoke("fn", b"{}").json() == expected
        files = platform.invoke("fn", b'{"files": true}').json()
        assert (files["data"], files["version"]) == ("beside the module", "1.2.3")

        # Versions are immutable and never numbered twice; deleting one leaves the functions using it as they are.
        base = {"python/lib/python3.14/site-packages/sitepkg/__init__.py": "VALUE = 'site-packages'\n"}
        assert platform.publish_layer_version("base", zip_of(base)).version == 2
        platform.delete_layer_version("base", 1)
        platform.delete_layer_version("base", 1)  # nothing left to delete: no error, as Lambda
        assert [v.version for v in platform.list_layer_versions("base")] == [2]
        assert platform.publish_layer_version("base", zip_of(base)).version == 3
        assert [(v.name, v.version) for v in platform.list_layers()] == [("base", 3), ("over", 1)]
        with pytest.raises(LayerNotFoundError):
            platform.get_layer_version("base", 1)
        with pytest.raises(LayerNotFoundError):
            platform.update_function_configuration("fn", layers=["base:1"])  # gone: not usable anew
        platform.update_function_configuration("fn", layers=[])  # taken, as on Lambda: its cold starts fail
        missing = platform.invoke("fn", b"{}").function_error
        assert missing is not None and missing.error_type == "Runtime.ImportModuleError"
        assert "No module named 'common'" in missing.error_message
        platform.update_function_configuration("fn", layers=["base:3", "over:1"])
        assert platform.invoke("fn", b"{}").json()["common"] == "over"

    with SyncPlatform(data_dir=tmp_path, persistent=True) as platform:
        assert [(v.name, v.version) for v in platform.list_layers()] == [("base", 3), ("over", 1)]
        assert platform.publish_layer_version("over", zip_of({"python/common.py": "VALUE = 'o2'\n"})).version == 2
        platform.delete_layer_version("over", 1)
        # A rebuild (a new handler) after a restart finds a deleted layer version's content kept with the code.
        platform.update_function_configuration("fn", handler="app.handler", description="rebuilt")
        assert platform.invoke("fn", b"{}").json() == expected | {"sitepkg": "site-packages"}


def test_bad_layers_are_refused(platform: SyncPlatform, guest: Callable[[str], bytes]) -> None:
    with pytest.raises(InvalidParameterError, match="LayerName"):
        platform.publish_layer_version("bad name", zip_of({"python/x.py": ""}))
    with pytest.raises(InvalidParameterError, match="zip"):
        platform.publish_layer_version("notzip", b"not a zip")
    with pytest.raises(InvalidParameterError, match="CompatibleRuntimes"):
        platform.publish_layer_version("x", zip_of({"python/x.py": ""}), compatible_runtimes=["wasi"])
    assert platform.list_layers() == []
    py_only = platform.publish_layer_version("py", zip_of({"python/x.py": ""}), compatible_runtimes=[PYTHON])
    js = zip_of({"index.mjs": "export const handler = async () => 1;\n"})
    with pytest.raises(InvalidParameterError, match=r"is for python3\.14"):
        platform.create_function("js", js, runtime=JAVASCRIPT, handler="index.handler", layers=["py:1"])
    with pytest.raises(InvalidParameterError, match="layers are for the runtimes"):
        platform.create_function("wasm", guest("echo"), layers=["py:1"])
    with pytest.raises(LayerNotFoundError):
        platform.create_function(
            "py", zip_of({"app.py": APP}), runtime=PYTHON, handler="app.handler", layers=["no:1"]
        )
    with pytest.raises(InvalidParameterError, match="at most 5"):
        platform.create_function(
            "py", zip_of({"app.py": APP}), runtime=PYTHON, handler="app.handler", layers=[f"py:{py_only.version}"] * 6
        )
    with pytest.raises(InvalidParameterError, match="two versions"):
        platform.create_function(
            "py", zip_of({"app.py": APP}), runtime=PYTHON, handler="app.handler", layers=["py:1"] * 2
        )
    assert platform.list_functions() == []


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_a_javascript_layer_s_node_modules(platform: SyncPlatform) -> None:
    platform.publish_layer_version(
        "shout",
        zip_of({"nodejs/node_modules/shout/index.js": "exports.shout = (s) => s.toUpperCase() + '!';\n"}),
        compatible_runtimes=[JAVASCRIPT],
    )
    source = zip_of(
        {"index.mjs": "import { shout } from 'shout';\nexport const handler = async (e) => shout(e.name);\n"}
    )
    platform.create_function("js", source, runtime=JAVASCRIPT, handler="index.handler", layers=["shout:1"])
    assert platform.invoke("js", b'{"name": "ada"}').json() == "ADA!"
    # Lambda's other layout, nodejs/nodeN/node_modules (N the function's nodejsN.x), over the plain one.
    platform.publish_layer_version(
        "whisper",
        zip_of({
            "nodejs/node_modules/whisper/index.js": "exports.whisper = () => 'plain';\n",
            "nodejs/node20/node_modules/whisper/index.js": "exports.whisper = (s) => s.toLowerCase() + '...';\n",
            "nodejs/node18/node_modules/whisper/index.js": "exports.whisper = () => 'node18';\n",
        }),
    )  # fmt: skip
    source = zip_of(
        {"index.mjs": "import { whisper } from 'whisper';\nexport const handler = async (e) => whisper(e.name);\n"}
    )
    platform.create_function("js20", source, runtime="nodejs20.x", handler="index.handler", layers=["whisper:1"])
    assert platform.invoke("js20", b'{"name": "ADA"}').json() == "ada..."


def test_lambdas_runtime_identifiers_run_on_the_runtimes(platform: SyncPlatform) -> None:
    """Lambda's python3.X and nodejsN.x are accepted as they are (deployment configurations carry them): they run
    on python3.14 and js-starlingmonkey, keep their name, and find a layer's files where Lambda's would be."""
    layer = zip_of({
        "python/lib/python3.12/site-packages/sitepkg/__init__.py": "VALUE = 'site-packages'\n",
        # For both versions: the function's own (3.12) wins over the one it runs on.
        "python/lib/python3.14/site-packages/sitepkg/__init__.py": "VALUE = 'for 3.14'\n",
    })  # fmt: skip
    platform.publish_layer_version("py312", layer, compatible_runtimes=["python3.12", "python3.13"])
    source = zip_of({
        "app.py": "import os, sys, sitepkg\n"
        "def handler(event, context):\n"
        "    return [os.environ['AWS_EXECUTION_ENV'], sys.version_info[:2], sitepkg.VALUE]\n",
    })  # fmt: skip
    info = platform.create_function("py", source, runtime="python3.12", handler="app.handler", layers=["py312:1"])
    assert info.runtime == "python3.12" and platform.get_function("py").runtime == "python3.12"
    assert platform.invoke("py", b"{}").json() == ["AWS_Lambda_python3.12", [3, 14], "site-packages"]
    # A layer names the runtimes it is for exactly, as on Lambda.
    with pytest.raises(InvalidParameterError, match=r"is for python3\.12, python3\.13"):
        platform.create_function("py2", source, runtime=PYTHON, handler="app.handler", layers=["py312:1"])
    for unknown in ("java21", "python3.8", "nodejs16.x", "provided.al2023", ""):
        with pytest.raises(InvalidParameterError, match="Runtime") as excinfo:
            platform.create_function("x", source, runtime=unknown, handler="app.handler")
        assert "nodejs18.x-nodejs24.x" in str(excinfo.value)
    with pytest.raises(InvalidParameterError, match="CompatibleRuntimes"):
        platform.publish_layer_version("x", layer, compatible_runtimes=["cobol85"])
    if shutil.which("node") is not None:
        js = zip_of({"index.mjs": "export const handler = async () => process.env.AWS_EXECUTION_ENV;\n"})
        platform.create_function("js", js, runtime="nodejs22.x", handler="index.handler")
        assert platform.invoke("js", b"{}").json() == "AWS_Lambda_nodejs22.x"
        platform.update_function_configuration("js", runtime="nodejs20.x")
        assert platform.invoke("js", b"{}").json() == "AWS_Lambda_nodejs20.x"
        failed = platform.invoke("js", b"{}", qualifier=platform.publish_version("js").version)
        assert failed.function_error is None and platform.get_function("js", "1").runtime == "nodejs20.x"


def test_layer_changes_publish_a_new_version_and_clashes_are_refused(platform: SyncPlatform) -> None:
    platform.publish_layer_version(
        "pkgs",
        zip_of({
            "python/lib/python3.14/site-packages/pkg/__init__.py": "VALUE = 1\n",
            "python/top.py": "VALUE = 'top'\n",
        }),
    )  # fmt: skip
    app = (
        "import importlib.util\nimport pkg\nimport top\n\n\ndef handler(event, context):\n"
        "    return [pkg.VALUE, top.VALUE, importlib.util.find_spec('lib') is None]\n"
    )
    platform.create_function("fn", zip_of({"app.py": app}), runtime=PYTHON, handler="app.handler", layers=["pkgs:1"])
    # site-packages goes to the top only, not also under lib/ (it would count twice against the 250 MB).
    assert platform.invoke("fn", b"{}").json() == [1, "top", True]
    assert platform.publish_version("fn").version == "1"
    platform.publish_layer_version("pkgs", zip_of({"python/pkg/__init__.py": "VALUE = 2\n", "python/top.py": ""}))
    platform.update_function_configuration("fn", layers=["pkgs:2"])
    assert platform.publish_version("fn").version == "2"  # a change of layers is a change
    assert platform.invoke("fn", b"{}", qualifier="1").json()[0] == 1

    platform.publish_layer_version("file", zip_of({"python/x": "a file"}))
    platform.publish_layer_version("dir", zip_of({"python/x/__init__.py": ""}))
    source = zip_of({"app.py": "def handler(event, context):\n    return 1\n"})
    with pytest.raises(InvalidParameterError, match="clash"):
        platform.create_function("clash", source, runtime=PYTHON, handler="app.handler", layers=["file:1", "dir:1"])
    with pytest.raises(InvalidParameterError, match="clash"):
        platform.create_function(
            "clash", zip_of({"app.py": "", "x": "a file"}), runtime=PYTHON, handler="app.handler", layers=["dir:1"]
        )
    with pytest.raises(InvalidParameterError, match="clash"):
        platform.publish_layer_version("both", zip_of({"python/a": "", "python/a/b.py": ""}))
    assert [f.name for f in platform.list_functions()] == ["fn"]
