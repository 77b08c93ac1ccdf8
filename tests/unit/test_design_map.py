"""docs/design.md is the true map: its generated part matches the code, and
every module, function and file its prose names exists."""

from __future__ import annotations

from tests import design_map


def test_the_generated_map_matches_the_code() -> None:
    diff = design_map.stale()
    assert not diff, f"docs/design.md is stale; run `python -m tests.design_map --write`:\n{diff}"


def test_every_name_the_page_uses_exists() -> None:
    names = design_map.named_things()
    assert names.checked >= 15  # the page does name modules; a broken regex would check none
    assert names.missing == []


def test_a_name_that_does_not_exist_is_reported() -> None:
    page = (
        "See `gitops_bot.core.objects.diff:compare_everything`, `core.nowhere`, "
        "`gitops_bot.app.review`, `docs/no-such-page.md`, `core.objects.model:Key`, "
        "`forges/github.py` and `forges/registry.py`."
    )
    names = design_map.named_things(page)
    assert names.checked == 7
    assert names.missing == [
        "`gitops_bot.core.objects.diff:compare_everything`",
        "core.nowhere",
        "`docs/no-such-page.md`",
        "`forges/github.py`",
    ]


def test_the_layer_picture_is_read_from_the_import_linter_contract() -> None:
    layers = design_map.layers()
    assert layers[0] == ["cli"]
    assert layers[-1] == ["core"]
    assert ["app", "puller"] in layers
    generated = design_map.generated()
    for layer in layers:
        assert " | ".join(layer) in generated
