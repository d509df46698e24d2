"""ProposeEdit / GetRevision / ListRevisions / ListProposals in the domain core."""

from __future__ import annotations

import hashlib

import pytest

from service.domain.edits import unified_diff
from service.domain.errors import InvalidArgument, NotFound, PayloadTooLarge
from service.domain.models import (
    LaunchRunRequest,
    ProposalOutcome,
    ProposeEditRequest,
    SearchReplaceBlock,
)


def sr(search: str, replace: str, **kw) -> ProposeEditRequest:
    return ProposeEditRequest(
        search_replace=[SearchReplaceBlock(search=search, replace=replace)], **kw
    )


def test_each_patch_form_makes_a_content_addressed_revision(world):
    track = world.track()
    alice = world.agent("alice")
    lr = world.baseline.replace("LR = 0.01", "LR = 0.02")
    by_sr = world.core.propose_edit(
        alice, track.id, sr("LR = 0.01", "LR = 0.02", description="double the LR")
    )
    rev = by_sr.revision
    assert rev.source == lr
    assert rev.id == hashlib.sha256(lr.encode()).hexdigest()
    assert rev.parent_id == track.baseline_revision
    assert rev.author_agent_id == alice.agent_id
    assert rev.description == "double the LR"
    assert (rev.stats.lines_added, rev.stats.lines_removed) == (1, 1)
    assert "-LR = 0.01" in rev.diff_to_parent and "+LR = 0.02" in rev.diff_to_parent
    assert not by_sr.already_exists and not by_sr.rebased

    depth = world.baseline.replace("DEPTH = 2", "DEPTH = 4")
    by_diff = world.core.propose_edit(
        alice, track.id, ProposeEditRequest(unified_diff=unified_diff(world.baseline, depth))
    )
    assert by_diff.revision.source == depth
    by_full = world.core.propose_edit(
        alice, track.id, ProposeEditRequest(full_source=depth.replace("range(10)", "range(20)"))
    )
    assert "range(20)" in by_full.revision.source


def test_same_source_twice_returns_the_existing_revision_and_its_runs(world):
    track = world.track()
    alice, bob = world.agent("alice"), world.agent("bob")
    first = world.core.propose_edit(alice, track.id, sr("LR = 0.01", "LR = 0.03"))
    run = world.core.launch_run(
        alice, LaunchRunRequest(track_id=track.id, revision_id=first.revision.id)
    )
    # Another agent reaches the same code through another patch form.
    second = world.core.propose_edit(
        bob,
        track.id,
        ProposeEditRequest(full_source=first.revision.source, description="mine too"),
    )
    assert second.already_exists
    assert second.revision == first.revision  # the stored one is unchanged
    assert second.existing_run_ids == [run.id]
    revisions = world.core.list_revisions(world.admin, track.id, None, None, "").items
    assert [r.id for r in revisions] == [track.baseline_revision, first.revision.id]


def test_a_refused_proposal_is_kept_with_its_reason(world):
    track = world.track()
    alice = world.agent("alice")
    with pytest.raises(InvalidArgument) as err:
        world.core.propose_edit(alice, track.id, sr("LR = 0.99", "LR = 0.5", description="lr"))
    assert err.value.details["block"] == 1
    proposal_id = err.value.details["proposal_id"]
    with pytest.raises(InvalidArgument) as imp:
        world.core.propose_edit(
            alice, track.id, sr("import math\n", "import math\nimport socket\n")
        )
    assert imp.value.details["disallowed_imports"]
    proposals = world.core.list_proposals(world.admin, track.id, alice.agent_id, None, "").items
    assert [p.outcome for p in proposals] == [ProposalOutcome.REJECTED] * 2
    first = proposals[0]
    assert first.id == proposal_id
    assert first.rejection_message == err.value.message
    assert first.rejection_details["block"] == 1
    assert first.rejection_details["code"] == "INVALID_ARGUMENT"
    assert "LR = 0.99" in first.patch and first.description == "lr"
    # Nothing new among the revisions.
    assert len(world.core.list_revisions(world.admin, track.id, None, None, "").items) == 1


def test_syntax_errors_and_missing_functions_are_refused(world):
    track = world.track()
    alice = world.agent("alice")
    with pytest.raises(InvalidArgument) as err:
        world.core.propose_edit(alice, track.id, sr("LR = 0.01", "LR = = 0.01"))
    assert err.value.details["syntax_error"]["line"] == 8
    with pytest.raises(InvalidArgument, match="build_model"):
        world.core.propose_edit(alice, track.id, sr("def build_model(", "def make_model("))


def test_exactly_one_patch_form(world):
    track = world.track()
    alice = world.agent("alice")
    with pytest.raises(InvalidArgument) as err:
        world.core.propose_edit(alice, track.id, ProposeEditRequest(description="nothing"))
    assert err.value.details["given"] == []
    with pytest.raises(InvalidArgument) as err:
        world.core.propose_edit(
            alice,
            track.id,
            ProposeEditRequest(full_source=world.baseline, unified_diff="--- a\n+++ b\n"),
        )
    assert set(err.value.details["given"]) == {"unified_diff", "full_source"}


def test_size_limits(world):
    from service.domain.service import DomainSettings, Loopy

    core = Loopy(
        world.meta,
        world.artifacts,
        world.dispatcher,
        DomainSettings(max_source_bytes=len(world.baseline) + 10, max_patch_bytes=300),
    )
    track = world.track()
    alice = world.agent("alice")
    with pytest.raises(PayloadTooLarge) as err:
        core.propose_edit(
            alice, track.id, ProposeEditRequest(full_source=world.baseline + "#" * 400)
        )
    assert err.value.details["limit"] == 300
    with pytest.raises(PayloadTooLarge) as err:
        core.propose_edit(alice, track.id, sr("LR = 0.01", "LR = 0.01  " + "#" * 100))
    assert err.value.details["field"] == "source"
    with pytest.raises(InvalidArgument) as err:
        core.propose_edit(alice, track.id, sr("LR = 0.01", "LR = 0.1", description="d" * 3000))
    assert err.value.details["field"] == "description"


def test_base_must_exist_and_belong_to_the_track(world):
    track = world.track("track-a")
    other = world.track("track-b")
    alice = world.agent("alice")
    on_b = world.core.propose_edit(alice, other.id, sr("LR = 0.01", "LR = 0.05")).revision
    with pytest.raises(NotFound) as err:
        world.core.propose_edit(
            alice, track.id, sr("LR = 0.01", "LR = 0.02", base_revision="f" * 64)
        )
    assert err.value.details["field"] == "base_revision"
    with pytest.raises(InvalidArgument) as err:
        world.core.propose_edit(
            alice, track.id, sr("LR = 0.05", "LR = 0.06", base_revision=on_b.id)
        )
    assert err.value.details["revision_track_id"] == "track-b"
    with pytest.raises(NotFound):
        world.core.propose_edit(alice, "no-track", sr("LR = 0.01", "LR = 0.02"))


def test_an_edit_on_an_old_base_is_rebased_onto_the_moved_head(world):
    track = world.track()
    alice, bob = world.agent("alice"), world.agent("bob")
    base = track.head_revision
    # Alice's change becomes the head.
    head = world.core.propose_edit(alice, track.id, sr("LR = 0.01", "LR = 0.02")).revision
    run = world.core.launch_run(alice, LaunchRunRequest(track_id=track.id, revision_id=head.id))
    world.finish(run.id, 1.4)
    from service.domain.models import PromoteRequest

    world.core.promote_run(
        world.admin, track.id, PromoteRequest(run_id=run.id, force=True, reason="test setup")
    )
    # Bob edited the old baseline; his change touches other lines, so it merges.
    result = world.core.propose_edit(
        bob, track.id, sr("DEPTH = 2", "DEPTH = 3", base_revision=base)
    )
    assert result.rebased
    assert result.revision.parent_id == head.id
    assert "LR = 0.02" in result.revision.source and "DEPTH = 3" in result.revision.source
    assert result.revision.diff_to_parent.count("\n-") == 1  # only Bob's line vs the head
    assert any("rebased" in note for note in result.notes)
    # A true conflict is refused with the lines.
    with pytest.raises(InvalidArgument) as err:
        world.core.propose_edit(bob, track.id, sr("LR = 0.01", "LR = 0.5", base_revision=base))
    assert "conflict" in err.value.message.lower()


def test_get_revision_has_diffs_children_and_runs(world):
    track = world.track()
    alice = world.agent("alice")
    a = world.core.propose_edit(alice, track.id, sr("LR = 0.01", "LR = 0.02")).revision
    b = world.core.propose_edit(alice, track.id, sr("DEPTH = 2", "DEPTH = 8")).revision
    run = world.core.launch_run(alice, LaunchRunRequest(track_id=track.id, revision_id=b.id))
    view = world.core.get_revision(alice, b.id)
    assert view.revision.parent_id == track.baseline_revision
    assert (view.stats_to_baseline.lines_added, view.stats_to_baseline.lines_removed) == (1, 1)
    assert "+DEPTH = 8" in view.diff_to_baseline and "LR = 0.02" not in view.diff_to_baseline
    assert view.run_ids == [run.id]
    assert world.core.get_revision(alice, track.baseline_revision).children == [a.id, b.id]
    with pytest.raises(NotFound) as err:
        world.core.get_revision(alice, "0" * 64)
    assert err.value.details == {"revision_id": "0" * 64}


def test_revisions_filter_by_author_and_page(world):
    track = world.track()
    alice, bob = world.agent("alice"), world.agent("bob")
    for lr in ("0.02", "0.03", "0.04"):
        world.core.propose_edit(alice, track.id, sr("LR = 0.01", f"LR = {lr}"))
    world.core.propose_edit(bob, track.id, sr("LR = 0.01", "LR = 0.05"))
    mine = world.core.list_revisions(alice, track.id, alice.agent_id, 2, "")
    assert len(mine.items) == 2 and mine.next_page_token
    more = world.core.list_revisions(alice, track.id, alice.agent_id, 2, mine.next_page_token)
    assert len(more.items) == 1 and more.next_page_token == ""
    assert {r.author_agent_id for r in mine.items + more.items} == {alice.agent_id}
    with pytest.raises(NotFound):
        world.core.list_revisions(alice, "nope-track", None, None, "")


def test_propose_is_idempotent_by_request_id(world):
    track = world.track()
    alice = world.agent("alice")
    req = sr("LR = 0.01", "LR = 0.07", request_id="p-1")
    first = world.core.propose_edit(alice, track.id, req)
    second = world.core.propose_edit(alice, track.id, req)
    assert second.proposal_id == first.proposal_id
    assert second.revision == first.revision and not second.already_exists
    assert len(world.core.list_proposals(alice, track.id, None, None, "").items) == 1
    bad = sr("LR = 9", "LR = 1", request_id="p-2")
    with pytest.raises(InvalidArgument) as one:
        world.core.propose_edit(alice, track.id, bad)
    with pytest.raises(InvalidArgument) as two:
        world.core.propose_edit(alice, track.id, bad)
    assert one.value.message == two.value.message
    assert len(world.core.list_proposals(alice, track.id, None, None, "").items) == 2


def test_text_that_is_not_utf8_is_refused_before_anything_is_stored(world):
    track = world.track()
    alice = world.agent("alice")
    with pytest.raises(InvalidArgument, match="not valid UTF-8"):
        world.core.propose_edit(alice, track.id, sr("LR = 0.01", "LR = \ud800"))
    proposals = world.core.list_proposals(alice, track.id, None, None, "")
    assert proposals.items == []
