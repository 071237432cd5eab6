"""The frontend's files: served from the package, with the right type, and nothing else."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tb_lr_plugin.plugin import static_assets

REPO_ROOT = Path(__file__).resolve().parents[2]
INDEX_JS = REPO_ROOT / "tb_lr_plugin" / "static" / "index.js"


def test_plugins_listing_shows_the_tab_as_an_iframe_es_module(server):
    listing = server.client.get("/data/plugins_listing").get_json()
    assert listing["lr"] == {
        "disable_reload": False,
        "enabled": True,
        "remove_dom": False,
        "tab_name": "LR",
        "loading_mechanism": {"type": "IFRAME", "module_path": "/data/plugin/lr/index.js"},
    }


def test_the_plugin_entry_page_imports_index_js(server):
    response = server.client.get("/data/plugin_entry.html", query_string={"name": "lr"})
    assert response.status_code == 200
    assert 'import("./index.js")' in response.get_data(as_text=True)


def test_index_js_is_served_as_javascript(server):
    response = server.client.get("/data/plugin/lr/index.js")
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.get_data() == INDEX_JS.read_bytes()


def test_every_frontend_file_is_served_at_the_plugin_root(server):
    root = static_assets.static_root()
    files = [
        path.relative_to(INDEX_JS.parent).as_posix()
        for path in INDEX_JS.parent.rglob("*")
        if path.is_file() and not any(part.startswith(".") for part in path.parts)
    ]
    assert "index.js" in files
    for relative in files:
        response = server.client.get(f"/data/plugin/lr/{relative}")
        assert response.status_code == 200, relative
        assert response.get_data() == root.joinpath(*relative.split("/")).read_bytes()
        assert response.mimetype == static_assets.content_type(relative)


ESCAPES = [
    "../loader.py",
    "static/../../loader.py",
    "static/../../../pyproject.toml",
    "..%2f..%2fpyproject.toml",
    "%2e%2e/%2e%2e/pyproject.toml",
    "static/%2e%2e%2f%2e%2e%2fpyproject.toml",
    "static/..%5c..%5cpyproject.toml",
    "static\\..\\..\\pyproject.toml",
    "static//etc/passwd",
    "static/%2fetc%2fpasswd",
    "C:%5cWindows%5cwin.ini",
    "static/index.js%00.png",
    ".gitignore",
    "static/",
    "static/vendor",
    "nope.js",
]


@pytest.mark.parametrize("path", ESCAPES)
def test_paths_outside_the_static_directory_are_404(server, path):
    response = server.client.get(f"/data/plugin/lr/{path}")
    assert response.status_code == 404, path
    assert response.mimetype == "application/json"
    assert "Traceback" not in response.get_data(as_text=True)


def test_a_symbolic_link_out_of_the_static_directory_is_not_followed(tmp_path):
    root = tmp_path / "static"
    root.mkdir()
    (root / "inside.js").write_text("export {};")
    (tmp_path / "secret.txt").write_text("secret")
    (root / "leak.txt").symlink_to(tmp_path / "secret.txt")
    assert static_assets.read_asset("inside.js", root) == (b"export {};", "text/javascript")
    with pytest.raises(static_assets.AssetNotFoundError):
        static_assets.read_asset("leak.txt", root)


@pytest.mark.parametrize(
    ("path", "mime"),
    [
        ("index.js", "text/javascript"),
        ("lib/CHART.JS", "text/javascript"),
        ("vendor/uplot/uPlot.min.css", "text/css"),
        ("vendor/uplot/LICENSE", "application/octet-stream"),
        ("vendor/uplot/README.md", "application/octet-stream"),
    ],
)
def test_mime_types_come_from_a_fixed_table(path, mime):
    assert static_assets.content_type(path) == mime


@pytest.mark.slow
def test_an_installed_wheel_serves_its_own_static_files(tmp_path):
    """`pip install` of a built wheel, then the assets are read from site-packages."""
    pytest.importorskip("setuptools")
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, source / name)
    shutil.copytree(REPO_ROOT / "tb_lr_plugin", source / "tb_lr_plugin", symlinks=True)
    shutil.copytree(REPO_ROOT / "frontend" / "src", source / "frontend" / "src")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(
        [*pip, "wheel", str(source), "--no-deps", "--no-build-isolation", "-w", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("tb_lr_plugin-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        assert "tb_lr_plugin/static/index.js" in archive.namelist()
    site = tmp_path / "site"
    subprocess.run(
        [*pip, "install", "--no-deps", "--no-index", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
    )
    probe = (
        "import sys, tb_lr_plugin\n"
        "from tb_lr_plugin.plugin import static_assets\n"
        "body, mime = static_assets.read_asset('index.js')\n"
        "sys.stdout.buffer.write(tb_lr_plugin.__file__.encode() + b'\\n' + body)\n"
    )
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    environment["PYTHONPATH"] = str(site)
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        check=True,
    )
    location, body = result.stdout.split(b"\n", 1)
    assert location.decode().startswith(str(site))
    assert body == INDEX_JS.read_bytes()
