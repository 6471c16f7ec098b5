"""The formulas the report prints in "How these numbers are computed" (docs/metrics.md repeats
them word for word; tests/reports/test_docs.py keeps the two in step)."""

from __future__ import annotations

from reports.model import Method

METHODS: list[Method] = [
    Method(
        "Current value of a counter",
        "value = the counter in the delivery's last snapshot (collected ≤ report time)",
        "Snapshots are cumulative; they are never added up. A counter the platform does not give "
        "is n/a, never 0.",
    ),
    Method(
        "Engagements",
        "engagements = likes + reposts + (replies − our own thread replies) + quotes (those the "
        "platform gives; unknown when one of them is missing)",
        "n/a when the platform gives none of them. A counter the channel gives (some post of it "
        "has it: a platform's servers may differ) but missing in a post's snapshot makes its "
        "engagements unknown (never summed as 0): the post is left out "
        "of every rate, numerator and denominator, and counted in data quality. Our own replies are the thread continuations "
        "Elshi published under the post: platforms count them, they are not engagement. "
        "Bookmarks and link clicks are not included.",
    ),
    Method(
        "Engagement rate by impressions",
        "ER = Σ engagements ÷ Σ impressions over posts whose platform gives impressions (ratio "
        "of sums)",
        "The basis follows whether the platform gives the counter (a post with 0 impressions "
        "stays here), never its value; a post of such a platform whose impressions are missing "
        "is left out, never moved to the rate by followers. Posts whose engagements are unknown "
        "are left out of both sums; n says how many posts were used. 'Mean of posts' = average "
        "of each post's "
        "engagements ÷ impressions; the median is shown beside it.",
    ),
    Method(
        "Engagement rate by followers",
        "ER = Σ engagements ÷ Σ followers at posting time, over posts whose platform gives no "
        "impressions",
        "Followers at posting time: the account's last daily sample before publication. Never "
        "mixed with the rate by impressions.",
    ),
    Method(
        "Amplification, applause, conversation",
        "per post: reposts + quotes; likes; replies − our own thread replies — mean over posts "
        "(median beside)",
        "Over the posts whose platform gives the counter (n beside).",
    ),
    Method(
        "Link click-through",
        "CTR = Σ link clicks ÷ Σ impressions; per post with a Wilson 95% interval",
    ),
    Method(
        "Interval of an aggregate rate",
        "Fieller's 95% interval for Σy ÷ Σx over messages: the R with (ȳ − R·x̄)² ≤ t²·Var(ȳ − "
        "R·x̄), t on (messages − 1) degrees of freedom",
        "A message published on several channels, or recurring, is one cluster (its "
        "engagements and exposure added up). Engagements are not independent trials per "
        "impression, so no binomial formula is used. Fewer than 5 messages: 'too few posts for "
        "an interval'. Fieller's set unbounded (very uneven exposures): R·exp(±t·se/R) with "
        "leverage-corrected se. Never narrower than the Poisson interval of Σy over Σx (no "
        "engagement at all: [0, 3.69 ÷ Σx]). Deterministic: the same data give the same "
        "interval in every table.",
    ),
    Method(
        "Shrunk rate (leaderboards, top posts)",
        "shrunk = (k + α) ÷ (n + α + β) on values at 7 days; m = Σk ÷ Σn, s² = Σn(k/n − m)² ÷ Σn, "
        "τ² = s² − m(1 − m) ÷ n̄, α + β = m(1 − m) ÷ τ² − 1, α = m(α + β)",
        "A Beta prior per platform and basis from exposure-weighted moments less the binomial "
        "sampling variance (Marshall 1991), so a few small posts with lucky rates can neither "
        "raise the typical rate nor weaken the prior. Index = Σ shrunk engagements ÷ Σ "
        "engagements expected at each platform's typical rate. A platform with fewer than 3 "
        "posts at 7 days (or none engaged) has no fit: a group's part on it is pulled all the "
        "way to its typical rate (index 1.00), and its posts are left out of the top and bottom "
        "lists. Posts younger than 7 days are left out and counted; groups below the minimum "
        "number of posts are not ranked.",
    ),
    Method(
        "A/B comparison and trend",
        "difference = rate B − rate A at 7 days; 95% interval d ± t·√(v_A + v_B) (Welch, "
        "leverage-corrected variances over messages); permutation p-value",
        "'Beyond noise' only when the interval excludes 0 and p < 0.05. Trend: the later half "
        "of the period's posts vs the earlier half, same test.",
    ),
    Method(
        "Value at a fixed age",
        "v(age) = v₁ + (age − t₁)·(v₂ − v₁)/(t₂ − t₁) between the snapshots around that age",
        "A snapshot at exactly that age is used as it is; from zero at publication when the "
        "first snapshot is later. Younger posts are left out.",
    ),
    Method(
        "Half-life",
        "time at which engagements first reach ½ × latest engagements (interpolated)",
        "Median over posts whose last snapshot was taken at least 7 days after publication, "
        "per platform.",
    ),
    Method(
        "Best time slots",
        "index(slot) = mean over the slot's posts of (post rate at 7 d ÷ its account's mean "
        "rate at 7 d, one row per delivery)",
        "1.00 = the account's own baseline; local time of the audience; thin slots greyed. "
        "'Only one slot used' when there is nothing to compare.",
    ),
    Method(
        "Outcomes (AMEC)",
        "counts (registrations, applications) = sum over the period; levels (survey_*, *_rate, "
        "*_share, *_pct, *_score, *_index) = latest value in the period",
        "Imported from CSV with elshi outcomes import; shown beside the audience's outputs and "
        "out-takes, never mixed into them.",
    ),
    Method(
        "Attribution to audiences",
        "a delivery counts for audience A when its post targets A and its channel reaches A",
        "A post targeting two audiences counts fully for both where its channel reaches both; "
        "campaign totals count each delivery once.",
    ),
    Method(
        "Executive summary",
        "a group stands out when its 95% interval at 7 days lies wholly above or below its "
        "campaign's rate at 7 days, within one rate basis",
        "Audiences, narratives and message variants are each compared with the campaign as a "
        "whole; groups with too few posts for an interval are counted, not compared.",
    ),
]
