"""The modality seam: every dataset kind is claimed by exactly one modality, each declares its nouns and preset twin,
and nothing outside `nfgen_tui/modality/` decides a modality by testing a dataset's name or a modality's name."""

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from nfgen_tui import config as cfgmod
from nfgen_tui import modality
from nfgen_tui.errors import UserError
from nfgen_tui.fields import layout_from_config
from nfgen_tui.newrun import matching_preset

PACKAGE = Path(modality.__file__).parent
ROOT = PACKAGE.parent
KINDS = {"mnist-5k": "image2d", "mnist": "image2d", "fashion-mnist": "image2d", "folder:/some/where": "image2d",
         "shapes": "occupancy3d", "meshes:/some/where": "occupancy3d"}


@pytest.mark.parametrize("dataset,expected", KINDS.items())
def test_every_dataset_kind_is_claimed_by_exactly_one_modality(dataset, expected):
    claimants = [m.name for m in modality.MODALITIES.values() if m.claims(dataset)]
    assert claimants == [expected] and modality.for_dataset(dataset).name == expected


def test_a_name_nobody_claims_goes_to_the_default_whose_loader_names_every_kind(tmp_path):
    assert not any(m.claims("cubes") for m in modality.MODALITIES.values())
    assert modality.for_dataset("cubes") is modality.DEFAULT
    with pytest.raises(UserError, match="shapes or meshes:PATH"):
        modality.class_names("cubes")


def test_built_in_datasets_are_their_own_modality_s_and_listed_in_registry_order():
    for m in modality.MODALITIES.values():
        assert m.built_in and all(modality.for_dataset(d) is m for d in m.built_in)
    assert modality.built_in() == ["mnist-5k", "mnist", "fashion-mnist", "shapes"]
    assert set(modality.described()) >= {"folder:PATH", "meshes:PATH", *modality.built_in()}


def test_layouts_name_their_modality_and_each_dim_target_pair_is_unique():
    pairs = [(m.dim, m.target) for m in modality.MODALITIES.values()]
    assert len(set(pairs)) == len(pairs)
    for m in modality.MODALITIES.values():
        assert modality.for_layout(layout_from_config(cfgmod.FieldsConfig(), m.dim, m.target)) is m
    assert modality.get(None) is modality.DEFAULT  # a file written before modalities were recorded
    with pytest.raises(UserError, match="image2d | occupancy3d"):
        modality.get("audio1d")


def test_nouns():
    image, shape = modality.get("image2d").nouns, modality.get("occupancy3d").nouns
    assert (image.item, image.items, image.kind, image.generated) == ("image", "images", "images", "digits")
    assert (shape.item, shape.items, shape.kind, shape.generated) == ("shape", "shapes", "3D shapes", "shapes")


def test_preset_twins():
    assert matching_preset("quick", "shapes") == "quick3d" and matching_preset("paper", "meshes:/x") == "paper3d"
    assert matching_preset("quick3d", "mnist-5k") == "quick" and matching_preset("paper3d", "folder:/x") == "paper"
    assert matching_preset("quick", "fashion-mnist") == "quick" and matching_preset("quick3d", "shapes") == "quick3d"
    for name in cfgmod.PRESETS:  # every preset has its twin for every modality, sized for that modality's data
        for dataset in ("mnist-5k", "shapes"):
            twin = matching_preset(name, dataset)
            assert modality.for_dataset(cfgmod.preset(twin).data.dataset) is modality.for_dataset(dataset)


def test_each_declaration_names_modules_that_offer_its_entry_points():
    wanted = {"fields_module": ("load", "fit", "score", "agreement", "render", "write_samples"),
              "evaluate_module": ("evaluate",),
              "datasets_module": ("prepare", "class_names", "info", "show", "sample_pictures", "train_classifier")}
    for m in modality.MODALITIES.values():
        for attr, names in wanted.items():
            module = importlib.import_module(getattr(m, attr))
            assert module.__name__.startswith(f"nfgen_tui.modality.{m.name}.")
            assert all(callable(getattr(module, n, None)) for n in names), (m.name, attr)


def test_the_declarations_load_without_torch():
    code = "import sys, nfgen_tui.modality as m; m.for_dataset('shapes'); assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT.parent)


MODALITY_WORDS = {"image2d", "occupancy3d", "2D", "3D", "images.npy", "views.npy"}


def _outside_modules():
    for path in sorted(ROOT.rglob("*.py")):
        if PACKAGE not in path.parents:
            yield path, ast.parse(path.read_text())


def test_no_module_outside_the_package_decides_a_modality():
    """No `is_shape_dataset` (the name is gone), no comparison against a modality's name or a DatasetInfo kind,
    no probe of a sample folder's modality-specific files: those questions go to the registry."""
    found = []
    for path, tree in _outside_modules():
        for node in ast.walk(tree):
            if isinstance(node, (ast.Name, ast.Attribute, ast.alias)):
                name = getattr(node, "id", None) or getattr(node, "attr", None) or getattr(node, "name", None)
                if name == "is_shape_dataset":
                    found.append(f"{path}:{node.lineno}: is_shape_dataset")
            if isinstance(node, ast.Compare):
                consts = [c.value for c in (node.left, *node.comparators) if isinstance(c, ast.Constant)]
                found += [f"{path}:{node.lineno}: compares with {c!r}" for c in consts if c in MODALITY_WORDS]
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) and isinstance(node.right, ast.Constant) \
                    and node.right.value in MODALITY_WORDS:
                found.append(f"{path}:{node.lineno}: probes {node.right.value!r}")
    assert not found, "\n".join(found)
