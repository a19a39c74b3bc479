"""The only mapping from the ``sites`` scenario schema to domain objects."""

from __future__ import annotations

from v2xcosim.domain.charging import Sessions, generate_sessions
from v2xcosim.usecases.sites.schema import SiteSpec, SitesScenario


def charger_buses(site: SiteSpec) -> list[str]:
    """Bus name of each EV's charger: EV ``i`` at ``buses[i % len(buses)]``."""
    return [site.buses[i % len(site.buses)] for i in range(site.n_evs)]


def site_sessions_of(spec: SitesScenario, site: SiteSpec) -> Sessions:
    """Draw the sessions of ``site`` with the seed and horizon of scenario ``spec``."""
    return generate_sessions(
        site.sessions,
        site_id=site.id,
        n_evs=site.n_evs,
        seed=spec.seed,
        start=spec.time.start,
        duration_s=spec.time.duration_s,
        step_s=spec.time.step_s,
    )


def site_sessions(spec: SitesScenario) -> dict[str, Sessions]:
    """Draw the sessions of every active site (seeded, deterministic)."""
    return {site.id: site_sessions_of(spec, site) for site in spec.active_sites}
