"""Auth, agents, harnesses and tracks in the domain core."""

from __future__ import annotations

import json

import pytest

from service.domain.auth import Authenticator
from service.domain.errors import (
    AlreadyExists,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from service.domain.ids import hash_api_key
from service.domain.models import DecisionPolicy, Role, RunPurpose, RunState
from service.domain.service import CreateAgentRequest, CreateHarnessRequest, CreateTrackRequest

# --- auth ---------------------------------------------------------------------


def test_keys_authenticate_and_are_stored_hashed(world):
    created = world.core.create_agent(world.admin, CreateAgentRequest(name="alice"))
    assert created.api_key.startswith("loopy_")
    principal = world.core.authenticate(f"Bearer {created.api_key}")
    assert principal.agent_id == created.agent.id
    assert principal.role is Role.AGENT
    # Only the hash is stored: the plaintext key finds nothing.
    assert world.meta.get_agent_by_key_hash(created.api_key) is None
    assert world.meta.get_agent_by_key_hash(hash_api_key(created.api_key)) is not None


@pytest.mark.parametrize("key", [None, "", "   ", "Bearer "])
def test_missing_key_is_unauthenticated(world, key):
    with pytest.raises(Unauthenticated) as err:
        world.core.authenticate(key)
    assert "header" in err.value.details


def test_unknown_key_is_unauthenticated(world):
    with pytest.raises(Unauthenticated):
        world.core.authenticate("loopy_not-a-real-key")


def test_a_key_is_read_from_the_store_once_per_ttl_and_refusals_are_not_cached(world):
    now = [100.0]
    reads: list[str] = []
    real_lookup = world.meta.get_agent_by_key_hash

    def lookup(key_hash):
        reads.append(key_hash)
        return real_lookup(key_hash)

    world.meta.get_agent_by_key_hash = lookup
    auth = Authenticator(world.meta, ttl_s=5.0, clock=lambda: now[0])
    header = f"Bearer {world.admin_key}"
    assert auth.cached(header) is None
    assert auth.authenticate_header(header) == world.admin
    assert auth.cached(header) == world.admin
    now[0] += 4.9
    assert auth.authenticate(world.admin_key) == world.admin
    assert len(reads) == 1
    now[0] += 0.2  # past the TTL: asked again
    assert auth.authenticate_header(header) == world.admin
    assert len(reads) == 2
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            auth.authenticate_header("Bearer loopy_not-a-real-key")
    assert len(reads) == 4


@pytest.mark.parametrize("header", ["Basic abc", "Bearer", "bearer  ", "token loopy_x"])
def test_a_header_that_is_not_bearer_is_refused_before_any_lookup(world, header):
    with pytest.raises(Unauthenticated) as err:
        Authenticator(world.meta).authenticate_header(header)
    assert err.value.details["header"] == "Authorization: Bearer <key>"
    assert "must be `Bearer <api key>`" in err.value.message


def test_admin_only_actions_refuse_agents(world):
    agent = world.agent("alice")
    with pytest.raises(PermissionDenied) as err:
        world.core.create_agent(agent, CreateAgentRequest(name="mallory", role=Role.ADMIN))
    assert err.value.details["role"] == "agent"
    with pytest.raises(PermissionDenied):
        world.core.create_track(
            agent, CreateTrackRequest(track_id="mine", harness_id=world.harness.id)
        )
    with pytest.raises(PermissionDenied):
        world.core.create_harness(agent, CreateHarnessRequest(path="/tmp"))


def test_agents_read_only_themselves(world):
    alice, bob = world.agent("alice"), world.agent("bob")
    assert world.core.get_agent(alice, alice.agent_id).name == "alice"
    with pytest.raises(PermissionDenied):
        world.core.get_agent(alice, bob.agent_id)
    assert world.core.get_agent(world.admin, bob.agent_id).name == "bob"
    with pytest.raises(NotFound):
        world.core.get_agent(world.admin, "agent_nope")
    # `me` is the caller, whoever reads it (the transports pass it through).
    assert world.core.get_agent(alice, "me").id == alice.agent_id
    assert world.core.get_agent(world.admin, "me").id == world.admin.agent_id


def test_agent_name_is_validated(world):
    with pytest.raises(InvalidArgument) as err:
        world.core.create_agent(world.admin, CreateAgentRequest(name="  "))
    assert err.value.details["field"] == "name"


# --- harnesses ----------------------------------------------------------------


def test_harness_files_are_copied_and_verified(world):
    h = world.harness
    assert h.vocab_size == 512 and h.time_budget_s == 5.0 and h.size_bytes == 264
    keys = {ref.key for ref in world.artifacts.list(f"harnesses/{h.id}/")}
    assert keys == {
        f"harnesses/{h.id}/manifest.json",
        f"harnesses/{h.id}/train_0000.bin",
        f"harnesses/{h.id}/val_tokens.bin",
    }
    again = world.core.create_harness(
        world.admin, CreateHarnessRequest(path=str(world.tmp_path / "harness"))
    )
    assert again.id == h.id
    assert world.core.list_harnesses(world.admin, None, "").items == [h]


def test_harness_with_a_tampered_file_is_refused(world, tmp_path, make_harness_dir):
    directory = make_harness_dir(tmp_path / "bad", harness_id="hbad")
    (directory / "val_tokens.bin").write_bytes(b"tampered")
    with pytest.raises(InvalidArgument) as err:
        world.core.create_harness(world.admin, CreateHarnessRequest(path=str(directory)))
    assert err.value.details["file"] == "val_tokens.bin"
    assert err.value.details["expected_sha256"] != err.value.details["actual_sha256"]
    with pytest.raises(NotFound):
        world.core.get_harness(world.admin, "hbad")


def test_harness_path_errors_are_specific(world, tmp_path):
    with pytest.raises(InvalidArgument) as err:
        world.core.create_harness(world.admin, CreateHarnessRequest(path=str(tmp_path / "nope")))
    assert err.value.details["field"] == "path"
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidArgument, match="manifest"):
        world.core.create_harness(world.admin, CreateHarnessRequest(path=str(tmp_path / "empty")))
    (tmp_path / "wrong").mkdir()
    (tmp_path / "wrong" / "manifest.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(InvalidArgument, match="loopy-harness/1"):
        world.core.create_harness(world.admin, CreateHarnessRequest(path=str(tmp_path / "wrong")))
    with pytest.raises(InvalidArgument):
        world.core.create_harness(world.admin, CreateHarnessRequest())


# --- tracks -------------------------------------------------------------------


def test_create_track_stores_baseline_and_launches_calibration(world):
    track = world.track(calibration_runs=3)
    assert track.head_revision == track.baseline_revision
    baseline = world.core.get_revision(world.admin, track.baseline_revision)
    assert baseline.revision.parent_id is None
    assert baseline.revision.source == world.baseline
    assert baseline.diff_to_baseline == ""
    runs = world.core.list_runs(world.admin, track.id, None, None, "").items
    assert sorted(r.seed for r in runs) == [0, 1, 2]
    assert {r.purpose for r in runs} == {RunPurpose.CALIBRATION}
    assert {r.state for r in runs} == {RunState.QUEUED}
    assert sorted(world.dispatcher.submitted_ids) == sorted(r.id for r in runs)
    assert track.time_budget_s == world.harness.time_budget_s


def test_calibration_results_set_track_noise_and_head_run(world):
    track = world.track(calibration_runs=3)
    runs = sorted(
        world.core.list_runs(world.admin, track.id, None, None, "").items, key=lambda r: r.seed
    )
    world.finish(runs[0].id, 1.50)
    assert world.core.get_track(world.admin, track.id).noise_std is None  # one value: no std
    world.finish(runs[1].id, 1.52)
    mid = world.core.get_track(world.admin, track.id)
    assert mid.noise_std == pytest.approx(0.0141421, rel=1e-4)
    assert mid.head_run_id is None  # not all calibration runs have ended
    world.finish(runs[2].id, 1.48)
    done = world.core.get_track(world.admin, track.id)
    assert done.noise_samples == 3
    assert done.noise_std == pytest.approx(0.02, rel=1e-6)  # stdev([1.50, 1.52, 1.48])
    assert done.head_run_id == runs[2].id  # the best calibration run
    assert done.head_revision == track.baseline_revision


def test_track_ids_and_policies_are_validated(world):
    def create(**kw):
        base = dict(track_id="good-id", harness_id=world.harness.id, baseline_source=world.baseline)
        base.update(kw)
        return world.core.create_track(world.admin, CreateTrackRequest(**base))

    for bad_id in ["ab", "Has_Caps", "-lead", "x" * 64]:
        with pytest.raises(InvalidArgument) as err:
            create(track_id=bad_id)
        assert err.value.details["field"] == "track_id"
    with pytest.raises(InvalidArgument) as err:
        create(policy=DecisionPolicy(replicates=0))
    assert err.value.details["field"] == "policy.replicates"
    with pytest.raises(InvalidArgument) as err:
        create(time_budget_s=-1.0)
    assert err.value.details["field"] == "time_budget_s"
    with pytest.raises(NotFound) as err:
        create(harness_id="missing")
    assert err.value.details == {"harness_id": "missing"}
    with pytest.raises(InvalidArgument) as err:  # the baseline must honour the contract
        create(baseline_source="x = 1\n")
    assert "build_model" in err.value.message
    assert world.core.list_tracks(world.admin, None, "").items == []


def test_duplicate_track_id_is_already_exists(world):
    world.track("dup-track")
    with pytest.raises(AlreadyExists) as err:
        world.track("dup-track")
    assert err.value.details == {"track_id": "dup-track"}


def test_create_track_is_idempotent_by_request_id(world):
    req = CreateTrackRequest(
        track_id="idem-track",
        harness_id=world.harness.id,
        baseline_source=world.baseline,
        policy=DecisionPolicy(calibration_runs=2),
        request_id="req-1",
    )
    first = world.core.create_track(world.admin, req)
    second = world.core.create_track(world.admin, req)
    assert second == first
    assert len(world.dispatcher.submitted) == 2  # calibration launched once


def test_program_is_generated_or_custom(world):
    track = world.track()
    program = world.core.get_program(world.admin, track.id)
    assert program.metric == "val_bpb"
    assert program.head_revision == track.head_revision
    for needle in ["val_bpb", "build_model", "train(ctx)", "`torch`", "ProposeEdit", "5 seconds"]:
        assert needle in program.text, needle
    custom = world.core.create_track(
        world.admin,
        CreateTrackRequest(
            track_id="custom",
            harness_id=world.harness.id,
            baseline_source=world.baseline,
            program="# Do X\n",
            policy=DecisionPolicy(calibration_runs=0),
        ),
    )
    text = world.core.get_program(world.admin, custom.id).text
    # The custom program, then the live decision state (budget kind, error budget left).
    assert text.startswith("# Do X\n") and "Decision state (live)" in text
    with pytest.raises(NotFound):
        world.core.get_program(world.admin, "no-such-track")


def test_track_listing_pages(world):
    for i in range(5):
        world.track(f"track-{i}")
    first = world.core.list_tracks(world.admin, 2, "")
    assert [t.id for t in first.items] == ["track-0", "track-1"]
    rest = world.core.list_tracks(world.admin, 10, first.next_page_token)
    assert [t.id for t in rest.items] == ["track-2", "track-3", "track-4"]
    assert rest.next_page_token == ""
    with pytest.raises(InvalidArgument) as err:
        world.core.list_tracks(world.admin, 2, "forged-token")
    assert err.value.details["page_token"] == "forged-token"
    with pytest.raises(InvalidArgument) as err:
        world.core.list_tracks(world.admin, -1, "")
    assert err.value.details["field"] == "page_size"


def test_default_baseline_is_the_trainers_and_validates(world):
    from trainer.baseline import baseline_source

    track = world.core.create_track(
        world.admin,
        CreateTrackRequest(
            track_id="real-baseline",
            harness_id=world.harness.id,
            policy=DecisionPolicy(calibration_runs=1),
        ),
    )
    revision = world.core.get_revision(world.admin, track.baseline_revision).revision
    assert revision.source == baseline_source()
    assert "gc" in track.allowed_imports and "torch" in track.allowed_imports


def test_a_gpu_track_gets_the_baseline_sized_for_its_device(world):
    """An agent editing DEPTH on a CUDA track edits the value that runs there."""
    track = world.core.create_track(
        world.admin,
        CreateTrackRequest(
            track_id="gpu-baseline",
            harness_id=world.harness.id,
            device_class="cuda",
            policy=DecisionPolicy(calibration_runs=0),
        ),
    )
    source = world.core.get_revision(world.admin, track.baseline_revision).revision.source
    cpu_source = world.core.get_revision(
        world.admin,
        world.core.create_track(
            world.admin,
            CreateTrackRequest(
                track_id="cpu-baseline",
                harness_id=world.harness.id,
                policy=DecisionPolicy(calibration_runs=0),
            ),
        ).baseline_revision,
    ).revision.source
    assert "\nDEPTH = 8" in source and "ON_GPU" not in source
    assert "\nDEPTH = 4" in cpu_source
