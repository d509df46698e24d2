"""Contains all the data models used in inputs/outputs"""

from .agent import Agent
from .agent_quota import AgentQuota
from .artifact_ref import ArtifactRef
from .budget_kind import BudgetKind
from .create_agent_request import CreateAgentRequest
from .create_harness_request import CreateHarnessRequest
from .create_track_request import CreateTrackRequest
from .created_agent import CreatedAgent
from .decision_policy import DecisionPolicy
from .diff_stats import DiffStats
from .error_budget import ErrorBudget
from .eval_pair import EvalPair
from .evaluate_request import EvaluateRequest
from .evaluation import Evaluation
from .evaluation_state import EvaluationState
from .failure_reason import FailureReason
from .harness import Harness
from .harness_files import HarnessFiles
from .head_change import HeadChange
from .health_status import HealthStatus
from .health_status_checks import HealthStatusChecks
from .health_status_details import HealthStatusDetails
from .launch_run_request import LaunchRunRequest
from .leaderboard import Leaderboard
from .leaderboard_entry import LeaderboardEntry
from .list_harnesses_response import ListHarnessesResponse
from .list_head_changes_response import ListHeadChangesResponse
from .list_proposals_response import ListProposalsResponse
from .list_revisions_response import ListRevisionsResponse
from .list_runs_response import ListRunsResponse
from .list_tracks_response import ListTracksResponse
from .metric_point import MetricPoint
from .metric_series import MetricSeries
from .overhead_breakdown import OverheadBreakdown
from .patch_format import PatchFormat
from .problem import Problem
from .problem_details import ProblemDetails
from .program import Program
from .promote_request import PromoteRequest
from .proposal import Proposal
from .proposal_outcome import ProposalOutcome
from .proposal_rejection_details_type_0 import ProposalRejectionDetailsType0
from .propose_edit_request import ProposeEditRequest
from .propose_edit_result import ProposeEditResult
from .reported_figures import ReportedFigures
from .revision import Revision
from .revision_view import RevisionView
from .role import Role
from .run import Run
from .run_logs import RunLogs
from .run_purpose import RunPurpose
from .run_state import RunState
from .run_summary import RunSummary
from .run_summary_artifacts import RunSummaryArtifacts
from .sample_stats import SampleStats
from .search_replace_block import SearchReplaceBlock
from .speed_check import SpeedCheck
from .track import Track
from .verdict import Verdict

__all__ = (
    "Agent",
    "AgentQuota",
    "ArtifactRef",
    "BudgetKind",
    "CreateAgentRequest",
    "CreateHarnessRequest",
    "CreateTrackRequest",
    "CreatedAgent",
    "DecisionPolicy",
    "DiffStats",
    "ErrorBudget",
    "EvalPair",
    "EvaluateRequest",
    "Evaluation",
    "EvaluationState",
    "FailureReason",
    "Harness",
    "HarnessFiles",
    "HeadChange",
    "HealthStatus",
    "HealthStatusChecks",
    "HealthStatusDetails",
    "LaunchRunRequest",
    "Leaderboard",
    "LeaderboardEntry",
    "ListHarnessesResponse",
    "ListHeadChangesResponse",
    "ListProposalsResponse",
    "ListRevisionsResponse",
    "ListRunsResponse",
    "ListTracksResponse",
    "MetricPoint",
    "MetricSeries",
    "OverheadBreakdown",
    "PatchFormat",
    "Problem",
    "ProblemDetails",
    "Program",
    "PromoteRequest",
    "Proposal",
    "ProposalOutcome",
    "ProposalRejectionDetailsType0",
    "ProposeEditRequest",
    "ProposeEditResult",
    "ReportedFigures",
    "Revision",
    "RevisionView",
    "Role",
    "Run",
    "RunLogs",
    "RunPurpose",
    "RunState",
    "RunSummary",
    "RunSummaryArtifacts",
    "SampleStats",
    "SearchReplaceBlock",
    "SpeedCheck",
    "Track",
    "Verdict",
)
