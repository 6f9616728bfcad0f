"""`meshes:PATH`: a tiny folder made here with trimesh — good meshes loaded, bad ones listed with the reason."""

import numpy as np
import pytest

trimesh = pytest.importorskip("trimesh")

from nfgen_tui.data import meshes  # noqa: E402
from nfgen_tui.modality import dataset_info  # noqa: E402
from nfgen_tui.data.shapeset import CACHE_FOLDER, load_shapes  # noqa: E402
from nfgen_tui.errors import UserError  # noqa: E402

SIZES = dict(n_points=1024, n_surface=256)


def open_box():
    m = trimesh.creation.box((1.0, 1.0, 1.0))
    m.update_faces(np.arange(len(m.faces) - 2))  # one side missing: no inside
    return m


@pytest.fixture
def folder(tmp_path):
    """ModelNet-style `ball/train/*.off`, ShapeNet-style `crate/<id>/models/model_normalized.obj`, plain files."""
    root = tmp_path / "meshes"
    (root / "ball" / "train").mkdir(parents=True)
    (root / "crate" / "1a2b" / "models").mkdir(parents=True)
    trimesh.creation.icosphere(subdivisions=4, radius=2.0).export(root / "ball" / "train" / "sphere.off")
    trimesh.creation.icosphere(subdivisions=2).export(root / "ball" / "small.ply")
    (root / "ball" / "broken.obj").write_text("v 0 0\nf 1 2 x\n")
    (root / "ball" / "empty.stl").write_bytes(b"")
    trimesh.creation.box((1.0, 2.0, 3.0)).export(root / "crate" / "1a2b" / "models" / "model_normalized.obj")
    (root / "crate" / "1a2b" / "models" / "model_normalized.mtl").write_text("newmtl a\n")  # a model's part: quiet
    open_box().export(root / "crate" / "open.stl")
    (root / "crate" / "readme.txt").write_text("not a mesh")
    return root


def reasons(skipped, root):
    return {str(p).replace(str(root) + "/", ""): why.split(":")[0].split(",")[0] for p, why in skipped}


def test_good_meshes_load_and_bad_ones_are_listed_with_reasons(folder, tmp_path):
    seen = []
    s = load_shapes(f"meshes:{folder}", tmp_path / "cache", lambda d, t: seen.append((d, t)), **SIZES)
    assert s.name == f"meshes:{folder}" and s.classes == ["ball", "crate"] and s.class_counts() == [2, 1]
    assert s.points.shape == (3, 1024, 3) and s.occupancy.dtype == np.uint8 and s.surface.shape == (3, 256, 3)
    assert s.modality == "occupancy3d" and seen[-1] == (6, 6)  # six mesh files tried, one report each
    assert reasons(s.skipped, folder) == {
        "ball/broken.obj": "unreadable", "ball/empty.stl": "no faces",
        "crate/open.stl": "not watertight", "crate/readme.txt": "not a mesh file (.obj .off .stl .ply)"}
    for shape in s.surface:  # each normalised: centred, longest side on [-0.9, 0.9]
        lo, hi = shape.min(axis=0), shape.max(axis=0)
        assert np.abs(lo + hi).max() < 0.03 and 1.75 < (hi - lo).max() <= 1.8 + 1e-5


def test_occupancy_of_a_box_and_a_sphere_is_exact(folder, tmp_path):
    s = load_shapes(f"meshes:{folder}", tmp_path, n_points=2048, n_surface=512)
    box = s.subset(np.flatnonzero(s.labels == 1))
    p = box.points[0].astype(np.float64)
    half = np.array([0.3, 0.6, 0.9])  # a 1×2×3 box scaled so its longest side spans 1.8
    assert np.allclose(np.abs(box.surface[0]).max(axis=0), half, atol=1e-5)
    margin = np.abs(np.abs(p) - half).min(axis=1) > 1e-5  # leave out points on a face (either answer is fair)
    assert margin.sum() > 2000
    assert np.array_equal(box.occupancy[0][margin] == 1, (np.abs(p[margin]) < half).all(axis=1))
    assert 0.2 < box.occupancy[0].mean() < 0.8

    ball = s.subset([1])  # train/sphere.off, after small.ply: 2,562 vertices, faces between radius 0.898 and 0.9
    r = np.linalg.norm(ball.points[0].astype(np.float64), axis=1)
    assert np.abs(np.linalg.norm(ball.surface[0], axis=1) - 0.9).max() < 0.005
    assert (ball.occupancy[0][r < 0.895] == 1).all() and (ball.occupancy[0][r > 0.9] == 0).all()
    assert (r < 0.895).sum() > 300 and (r > 0.9).sum() > 1000


def test_samples_are_cached_per_mesh_and_recomputed_when_corrupt(folder, tmp_path, monkeypatch):
    calls = []
    real = meshes.mesh_samples
    monkeypatch.setattr(meshes, "mesh_samples", lambda f, *a: calls.append(f.name) or real(f, *a))
    first = load_shapes(f"meshes:{folder}", tmp_path, **SIZES)
    assert sorted(calls) == sorted(["sphere.off", "small.ply", "broken.obj", "empty.stl", "model_normalized.obj",
                                    "open.stl"])
    again = load_shapes(f"meshes:{folder}", tmp_path, **SIZES)
    assert len(calls) == 6  # nothing recomputed, skipped meshes included
    assert np.array_equal(first.points, again.points) and first.skipped == again.skipped
    for f in (tmp_path / CACHE_FOLDER).glob("*.safetensors"):
        f.write_bytes(f.read_bytes()[:100])  # truncated
    fixed = load_shapes(f"meshes:{folder}", tmp_path, **SIZES)
    assert len(calls) == 9 and np.array_equal(fixed.occupancy, first.occupancy)
    load_shapes(f"meshes:{folder}", tmp_path, n_points=512, n_surface=256)  # other sizes: other entries
    assert len(calls) == 15


def test_a_folder_without_a_usable_mesh_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="not a readable directory"):
        load_shapes(f"meshes:{tmp_path / 'nowhere'}", None)
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "a.txt").write_text("x")
    with pytest.raises(UserError, match="sub-folder"):
        load_shapes(f"meshes:{tmp_path / 'flat'}", None)
    bad = tmp_path / "bad" / "chair"
    bad.mkdir(parents=True)
    open_box().export(bad / "open.obj")
    (bad / "x.off").write_text("OFF\n1 1 0\n")
    with pytest.raises(UserError, match=r"chair.*no usable mesh.*open.obj \(not watertight.*move it out") as e:
        load_shapes(f"meshes:{tmp_path / 'bad'}", None, **SIZES)
    assert "\n" not in str(e.value)


def test_listing_surveys_the_folder_without_sampling(folder, tmp_path, monkeypatch):
    real = meshes.mesh_samples
    monkeypatch.setattr(meshes, "mesh_samples", lambda *a: pytest.fail("a listing must not sample meshes"))
    before = dataset_info(f"meshes:{folder}", tmp_path)
    assert before.available and before.kind == "3D" and before.classes == ["ball", "crate"]
    assert before.class_counts == [4, 2] and "6 meshes not sampled yet" in before.hint
    assert reasons(before.skipped, folder) == {"crate/readme.txt": "not a mesh file (.obj .off .stl .ply)"}
    monkeypatch.setattr(meshes, "mesh_samples", real)
    load_shapes(f"meshes:{folder}", tmp_path)  # default sizes, as a run would
    monkeypatch.setattr(meshes, "mesh_samples", lambda *a: pytest.fail("a listing must not sample meshes"))
    after = dataset_info(f"meshes:{folder}", tmp_path)
    assert after.class_counts == [2, 1] and after.hint == "" and len(after.skipped) == 4
    assert after.to_dict()["skipped"] == 4
    gone = dataset_info(f"meshes:{tmp_path / 'nowhere'}", tmp_path)
    assert not gone.available and "not a readable directory" in gone.hint


def test_inside_test_agrees_with_trimesh_and_ignores_face_orientation():
    from nfgen_tui.data.inside import inside_mesh

    rng = np.random.default_rng(0)
    p = rng.uniform(-1.2, 1.2, size=(600, 3))
    for mesh in (trimesh.creation.torus(0.7, 0.25), trimesh.creation.icosphere(2), trimesh.creation.box((1, 2, 0.5)),
                 trimesh.creation.cylinder(0.5, 1.5, sections=12)):
        ours = inside_mesh(mesh.vertices, mesh.faces, p)
        assert np.array_equal(ours, mesh.contains(p)) and 0.02 < ours.mean() < 0.6
        assert np.array_equal(inside_mesh(mesh.vertices, mesh.faces[:, ::-1], p), ours)  # turned inside out


def test_an_unreadable_file_is_skipped_not_fatal(folder, tmp_path):
    (folder / "crate" / "gone.obj").symlink_to(tmp_path / "moved-away.obj")  # a link to nothing: reading fails
    s = load_shapes(f"meshes:{folder}", tmp_path, **SIZES)
    assert reasons(s.skipped, folder)["crate/gone.obj"] == "unreadable" and s.class_counts() == [2, 1]
    assert reasons(dataset_info(f"meshes:{folder}", tmp_path).skipped, folder)["crate/gone.obj"] == "unreadable"


def test_data_prepare_caches_a_meshes_folder_so_loading_samples_nothing(folder, workspace, monkeypatch):
    from typer.testing import CliRunner

    from nfgen_tui.cli import app

    r = CliRunner().invoke(app, ["--workspace", str(workspace.root), "data", "prepare", f"meshes:{folder}"])
    assert r.exit_code == 0, r.output
    assert "3 shapes ready" in r.stdout and "[2, 1]" in r.stdout and "not watertight" in r.stderr
    monkeypatch.setattr(meshes, "mesh_samples", lambda *a: pytest.fail("prepared samples must come from the cache"))
    again = load_shapes(f"meshes:{folder}", workspace.datasets_dir)
    assert again.class_counts() == [2, 1] and len(again.skipped) == 4


def test_classifier_train_on_a_meshes_folder_trains_the_3d_classifier_once(folder, workspace):
    """`nfgen classifier train --dataset meshes:PATH` trains the point classifier a run on the whole folder uses,
    then finds it in the workspace cache."""
    import json

    from typer.testing import CliRunner

    from nfgen_tui.cli import app

    args = ["--workspace", str(workspace.root), "classifier", "train", "--dataset", f"meshes:{folder}",
            "--epochs", "2", "--json"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    first = json.loads(r.stdout)
    assert first["cached"] is False and first["n_classes"] == 2 and first["n_train"] + first["n_test"] == 3
    assert first["arch"].startswith("pointnet") and "classifier3d" in first["dir"]
    again = json.loads(CliRunner().invoke(app, args).stdout)
    assert again["cached"] is True and again["dir"] == first["dir"]
