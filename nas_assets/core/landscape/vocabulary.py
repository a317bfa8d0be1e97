"""The footprint's metric vocabulary, once: names (the ``footprints`` table's ``metric`` values),
formulas, domains, and how a table or figure labels and formats each.

The landscape code checks values against the domains
(:func:`nas_assets.core.landscape.metrics.footprint_problems`), the report and the Dagster metadata read
labels, descriptions and formats from here.
"""

from __future__ import annotations

from dataclasses import dataclass

#: k of the authors' sampled local-optima count (a cell fitter than its k nearest sampled cells).
KNN_OPTIMA_K = 10


@dataclass(frozen=True)
class FootprintMetric:
    """One footprint metric.

    Attributes:
        name: key in the ``footprints`` table and field of
            :class:`nas_assets.core.landscape.metrics.Footprint`.
        label: row name in tables (Unicode allowed).
        description: one sentence saying what the number means and which way is "better".
        definition: the formula in one line (error messages, asset metadata).
        fmt: ``format()`` spec for tables (NaN always prints as ``n/a``).
        scale: axis of its figure panel: ``"unit"`` (fixed 0..1), ``"log"`` (counts) or ``"linear"``.
        plot_label: panel title in figures (matplotlib mathtext allowed).
        low, high: closed domain bounds (``None`` = unbounded).
        integer: the value must be a whole number.
        allow_inf: +inf is a legitimate value (tau of an uncorrelated landscape).
        validated: checked against its domain (the counts ``n_architectures``/``n_walks`` are
            described here but checked separately).
    """

    name: str
    label: str
    description: str
    definition: str
    fmt: str
    scale: str
    plot_label: str
    low: float | None = None
    high: float | None = None
    integer: bool = False
    allow_inf: bool = False
    validated: bool = True


#: Every metric, in display order.
VOCABULARY: tuple[FootprintMetric, ...] = (
    FootprintMetric(
        name='mean_fitness',
        label='mean fitness',
        description="Mean fitness over the landscape's architectures.",
        definition='mean fitness over the architectures of the landscape',
        fmt='.3f',
        scale='unit',
        plot_label='mean fitness',
    ),
    FootprintMetric(
        name='fitness_std',
        label='fitness standard deviation',
        description='Standard deviation of the fitness: how spread out architectures are.',
        definition='population standard deviation of the fitness (ddof = 0)',
        fmt='.3f',
        scale='linear',
        plot_label='fitness std',
        low=0.0,
    ),
    FootprintMetric(
        name='fitness_variance',
        label='fitness variance',
        description='Variance of the fitness (the standard deviation squared).',
        definition='population variance of the fitness (ddof = 0)',
        fmt='.4f',
        scale='linear',
        plot_label='fitness variance',
        low=0.0,
    ),
    FootprintMetric(
        name='autocorrelation',
        label='autocorrelation ρ̄(1)',
        description="Lag-1 autocorrelation of fitness along random walks of Hamming-1 steps (the design's "
                    "own walks on a sample, fresh walks on a full landscape; counts in the notes), averaged "
                    "over walks: near 1 = smooth landscape, near 0 = rugged.",
        definition='mean lag-1 autocorrelation rho(1) of the random walks',
        fmt='.3f',
        scale='unit',
        plot_label='autocorrelation $\\bar{\\rho}(1)$',
        low=-1.0,
        high=1.0,
    ),
    FootprintMetric(
        name='ruggedness_tau',
        label='ruggedness τ = 1/ρ̄(1)',
        description="The authors' ruggedness, the inverse of ρ̄(1): larger = more rugged.",
        definition="authors' ruggedness tau = 1 / mean rho(1); +inf if rho <= 0",
        fmt='.2f',
        scale='linear',
        plot_label='ruggedness $\\tau = 1/\\bar{\\rho}(1)$',
        low=1.0,
        allow_inf=True,
    ),
    FootprintMetric(
        name='local_optima',
        label='local optima (exact count)',
        description='Architectures with no strictly better Hamming-1 neighbour; exact on a fully '
                    'known landscape.',
        definition='exact count of architectures without a strictly better neighbour',
        fmt=',.0f',
        scale='log',
        plot_label='local optima (count)',
        low=0.0,
        integer=True,
    ),
    FootprintMetric(
        name='local_optima_estimate',
        label='local optima (estimate N̂)',
        description='N̂ = K̄²/(2 ln 2), K̄ = mean index of the first repeated optimum over best-improvement '
                    'local searches from random starts (sampled landscapes).',
        definition='birthday-paradox estimate N_hat = K_mean^2 / (2 ln 2)',
        fmt=',.0f',
        scale='log',
        plot_label='local optima (estimate $\\hat{N}$)',
        low=0.0,
    ),
    FootprintMetric(
        name='optimal_plateaus',
        label='local optima (plateaus counted once)',
        description='Connected sets of equal-fitness neighbours with no strictly better neighbour, each '
                    'counted once (the per-architecture count counts every member of such a plateau).',
        definition='exact count of local optima with equal-fitness plateaus counted once',
        fmt=',.0f',
        scale='log',
        plot_label='optimal plateaus (count)',
        low=0.0,
        integer=True,
    ),
    FootprintMetric(
        name='knn_local_optima',
        label='local optima (sampled, 10-NN)',
        description="Sampled cells fitter than all of their 10 nearest sampled cells (FLA Hamming distance, "
                    "ties to the lower index): the authors' count on a sample, comparable between two "
                    "fitnesses on the same cells.",
        definition=f'sampled cells fitter than all of their {KNN_OPTIMA_K} nearest sampled cells (FLA '
                   'Hamming distance)',
        fmt=',.0f',
        scale='log',
        plot_label='local optima (sampled, 10-NN)',
        low=0.0,
        integer=True,
    ),
    FootprintMetric(
        name='knn_optima_ratio',
        label='sampled optima ratio vs CIFAR-10',
        description="Sampled local optima of this landscape divided by CIFAR-10's on the same cells "
                    "(authors: 7 / 4 = 1.75).",
        definition='sampled optima of this landscape / of CIFAR-10 on the same cells',
        fmt='.2f',
        scale='linear',
        plot_label='sampled optima ratio',
        low=0.0,
        allow_inf=True,
    ),
    FootprintMetric(
        name='local_optima_extrapolated',
        label='local optima (extrapolated)',
        description="The sampled optima ratio times CIFAR-10's N̂ on its full landscape (authors: 1.75 × "
                    "6,373 ≈ 11,153).",
        definition="knn_optima_ratio x CIFAR-10's N_hat (the authors' extrapolation)",
        fmt=',.0f',
        scale='log',
        plot_label='local optima (extrapolated)',
        low=0.0,
        allow_inf=True,
    ),
    FootprintMetric(
        name='positive_persistence',
        label='positive persistence P⁺(25)',
        description='Share of the top-25% architectures at the first budget (t0) that stay in the top 25% at '
                    'every budget of the landscape (see its persistence curve for the budgets): high = early '
                    'training already finds the good ones.',
        definition='P+(25 %): share of the t0 top-25 % set still in it at all budgets',
        fmt='.3f',
        scale='unit',
        plot_label='positive persistence $P^{+}(25)$',
        low=0.0,
        high=1.0,
    ),
    FootprintMetric(
        name='positive_auc',
        label='positive AuC⁺',
        description='Mean of P⁺(N) over N = 1..25%.',
        definition='mean of P+(N) over N = 1..25 %',
        fmt='.3f',
        scale='unit',
        plot_label='positive $\\mathrm{AuC}^{+}$',
        low=0.0,
        high=1.0,
    ),
    FootprintMetric(
        name='negative_persistence',
        label='negative persistence P⁻(25)',
        description='Share of the bottom-25% architectures at the first budget (t0) that stay in the bottom '
                    '25% at every budget.',
        definition='P-(25 %): the same for the bottom-25 % sets',
        fmt='.3f',
        scale='unit',
        plot_label='negative persistence $P^{-}(25)$',
        low=0.0,
        high=1.0,
    ),
    FootprintMetric(
        name='negative_auc',
        label='negative AuC⁻',
        description='Mean of P⁻(N) over N = 1..25%.',
        definition='mean of P-(N) over N = 1..25 %',
        fmt='.3f',
        scale='unit',
        plot_label='negative $\\mathrm{AuC}^{-}$',
        low=0.0,
        high=1.0,
    ),
    FootprintMetric(
        name='n_architectures',
        label='architectures',
        description='Number of architectures the metrics were computed on.',
        definition='Number of architectures the metrics were computed on.',
        fmt=',.0f',
        scale='log',
        plot_label='architectures',
        validated=False,
    ),
    FootprintMetric(
        name='n_walks',
        label='random walks',
        description='Number of random walks the autocorrelation was averaged over.',
        definition='Number of random walks the autocorrelation was averaged over.',
        fmt=',.0f',
        scale='linear',
        plot_label='random walks',
        validated=False,
    ),
)

#: By name.
METRICS: dict[str, FootprintMetric] = {m.name: m for m in VOCABULARY}
#: The metrics checked against their domains, in display order.
FOOTPRINT_METRICS: tuple[FootprintMetric, ...] = tuple(m for m in VOCABULARY if m.validated)
