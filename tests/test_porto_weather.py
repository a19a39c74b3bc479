"""Porto's synthetic weather against independent references (pvlib, FAO-56, the normals)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pvlib
import pytest

from v2xcosim.core.errors import ScenarioError
from v2xcosim.usecases.porto import weather as w

KELVIN = 273.15


def _hourly_year(year: int, seed: int) -> pd.DataFrame:
    start = pd.Timestamp(year=year, month=1, day=1, tz="UTC")
    n = 8784 if start.is_leap_year else 8760
    wx: pd.DataFrame = w.synthesise_weather(start, n, 3600, seed)
    return wx


def test_same_seed_same_weather_other_seed_other_weather() -> None:
    a = w.synthesise_weather("2025-07-07T00:00Z", 4 * 96, 900, 3)
    b = w.synthesise_weather("2025-07-07T00:00Z", 4 * 96, 900, 3)
    c = w.synthesise_weather("2025-07-07T00:00Z", 4 * 96, 900, 4)
    pd.testing.assert_frame_equal(a, b)
    assert list(a.columns) == list(w.WEATHER_COLUMNS)
    assert str(pd.DatetimeIndex(a.index).tz) == "UTC"
    assert not np.allclose(a["t_out_k"], c["t_out_k"])
    assert not np.allclose(a["clearness"], c["clearness"])


def test_a_window_sees_the_same_weather_as_inside_a_longer_run() -> None:
    week = w.synthesise_weather("2025-07-07T00:00Z", 7 * 96, 900, 11)
    month = w.synthesise_weather("2025-07-01T00:00Z", 31 * 96, 900, 11)
    pd.testing.assert_frame_equal(week, month.loc[week.index], check_freq=False)


def test_monthly_mean_temperature_is_the_normal_without_anomaly() -> None:
    times = pd.date_range("2025-01-01", "2026-01-01", freq="10min", inclusive="left", tz="UTC")
    t_c = pd.Series(w.temperature_k(times, 0, anomaly_std_k=0.0) - KELVIN, index=times)
    monthly = t_c.resample("MS").mean().to_numpy()
    assert np.max(np.abs(monthly - np.asarray(w.T_MEAN_C))) < 0.5


def test_monthly_mean_temperature_over_thirty_synthetic_years() -> None:
    times = pd.date_range("2001-01-01", "2031-01-01", freq="h", inclusive="left", tz="UTC")
    t_c = pd.Series(w.temperature_k(times, 5) - KELVIN, index=times)
    by_month = t_c.groupby(times.month).mean().to_numpy()
    assert np.max(np.abs(by_month - np.asarray(w.T_MEAN_C))) < 0.5
    # the anomaly is there: daily means spread by about its standard deviation
    daily = t_c.resample("D").mean()
    resid = daily - daily.groupby(pd.DatetimeIndex(daily.index).dayofyear).transform("mean")
    assert 1.2 < float(resid.std()) < 2.4


def test_diurnal_cycle_minimum_at_sunrise_maximum_at_three_pm_local() -> None:
    day = pd.date_range("2025-07-10T00:00", periods=24 * 60, freq="min", tz="Europe/Lisbon")
    times = pd.DatetimeIndex(day.tz_convert("UTC"))
    t = pd.Series(w.temperature_k(times, 0, anomaly_std_k=0.0), index=day)
    three_pm = pd.Timestamp("2025-07-10T15:00", tz="Europe/Lisbon")
    assert (
        abs((pd.Timestamp(t.index[int(np.argmax(t.to_numpy()))]) - three_pm).total_seconds())
        <= 5 * 60
    )  # + the seasonal slope
    loc = pvlib.location.Location(w.SITE_LAT_DEG, w.SITE_LON_DEG, "UTC", w.SITE_ALT_M)
    rise = loc.get_sun_rise_set_transit(
        pd.DatetimeIndex([pd.Timestamp("2025-07-10T12:00", tz="UTC")]), method="spa"
    )["sunrise"].iloc[0]
    assert (
        abs((pd.Timestamp(t.index[int(np.argmin(t.to_numpy()))]) - rise).total_seconds()) < 10 * 60
    )
    # amplitude: half the interpolated IPMA Tmax - Tmin (July 9.4 K, August 9.8 K) around mid-July
    assert 9.0 < float(t.max() - t.min()) < 10.0


def _fao56_day_length_h(doy: np.ndarray) -> np.ndarray:
    decl = 0.409 * np.sin(2 * math.pi * doy / 365 - 1.39)  # FAO-56 eq. 24
    phi = math.radians(w.SITE_LAT_DEG)
    omega_s = np.arccos(-math.tan(phi) * np.tan(decl))  # eq. 25
    return 24 / math.pi * omega_s  # eq. 34


def test_annual_ghi_matches_the_angstrom_target() -> None:
    # independent target: Ineichen monthly clear-sky energy × FAO-56 k_c from the sunshine table
    times = pd.date_range("2025-01-01", "2026-01-01", freq="h", inclusive="left", tz="UTC")
    loc = pvlib.location.Location(w.SITE_LAT_DEG, w.SITE_LON_DEG, "UTC", w.SITE_ALT_M)
    cs = loc.get_clearsky(times + pd.Timedelta(minutes=30), model="ineichen")["ghi"]
    cs_month_kwh = cs.groupby(times.month).sum().to_numpy() / 1000.0
    doy = np.arange(1, 366)
    n_h = pd.Series(_fao56_day_length_h(doy)).groupby(
        pd.date_range("2025-01-01", periods=365, freq="D").month
    )
    s_rel = np.asarray(w.SUNSHINE_H_PER_DAY) / n_h.mean().to_numpy()
    kc = (0.25 + 0.5 * s_rel) / 0.75
    target = float((kc * cs_month_kwh).sum())
    assert 1950 < cs_month_kwh.sum() < 2050  # data-facts: clear sky ≈ 2000 kWh/m²·yr
    annual = [float(_hourly_year(2025, seed)["ghi_w_m2"].sum()) / 1000.0 for seed in range(4)]
    assert abs(np.mean(annual) / target - 1.0) < 0.05
    # data-facts' rough estimate ≈ 1550 kWh/m²·yr: within 10 %
    assert abs(np.mean(annual) / 1550.0 - 1.0) < 0.10


def test_irradiance_physics_night_zero_and_bounds() -> None:
    wx = w.synthesise_weather("2025-03-20T00:00Z", 14 * 96, 900, 2)
    mid = pd.DatetimeIndex(wx.index) + pd.Timedelta(seconds=450)
    sp = pvlib.solarposition.get_solarposition(mid, w.SITE_LAT_DEG, w.SITE_LON_DEG, w.SITE_ALT_M)
    night = (sp["apparent_elevation"] < -1.0).to_numpy()
    assert night.sum() > 14 * 40
    for col in ("ghi_w_m2", "dni_w_m2", "dhi_w_m2", "ghi_clearsky_w_m2"):
        assert np.all(wx[col].to_numpy()[night] == 0.0), col
        assert np.all(wx[col] >= 0.0), col
    assert wx["clearness"].between(0.0, 1.0).all()
    assert np.all(wx["ghi_w_m2"] <= wx["ghi_clearsky_w_m2"] + 1e-9)
    assert np.all(wx["dhi_w_m2"] <= wx["ghi_w_m2"] + 1e-9)
    # closure GHI = DNI cos z + DHI while the sun is well up (Erbs: DNI from the remainder)
    up = (sp["zenith"] < 80).to_numpy()
    cosz = np.cos(np.radians(sp["zenith"].to_numpy()))
    recon = wx["dni_w_m2"].to_numpy() * cosz + wx["dhi_w_m2"].to_numpy()
    np.testing.assert_allclose(recon[up], wx["ghi_w_m2"].to_numpy()[up], rtol=1e-6, atol=1e-6)
    # the clearness is one value per local day
    local_day = pd.DatetimeIndex(wx.index).tz_convert("Europe/Lisbon").date
    per_day = wx["clearness"].groupby(local_day).nunique()
    assert (per_day == 1).all()


def test_plane_of_array() -> None:
    wx = w.synthesise_weather("2025-12-15T00:00Z", 3 * 96, 900, 1)
    flat = w.poa_w_m2(wx, tilt_deg=0.0, azimuth_deg=180.0)
    mid = pd.DatetimeIndex(wx.index) + pd.Timedelta(seconds=450)
    sp = pvlib.solarposition.get_solarposition(mid, w.SITE_LAT_DEG, w.SITE_LON_DEG, w.SITE_ALT_M)
    up = (sp["zenith"] < 80).to_numpy()
    np.testing.assert_allclose(flat.to_numpy()[up], wx["ghi_w_m2"].to_numpy()[up], rtol=1e-6)
    south = w.poa_w_m2(wx, tilt_deg=35.0, azimuth_deg=180.0)
    north = w.poa_w_m2(wx, tilt_deg=35.0, azimuth_deg=0.0)
    assert south.sum() > 1.2 * flat.sum() > 1.2 * north.sum()  # December: south wins
    assert (south >= 0).all() and (north >= 0).all()
    assert south.index.equals(wx.index)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("2025-07-07T00:00", 10, 900, 0), "no time zone"),
        (("2025-07-07T00:00Z", 0, 900, 0), "n_steps"),
        (("2025-07-07T00:00Z", 10, -900, 0), "step_s"),
        (("2025-07-07T00:00Z", 10, 900, -1), "seed"),
        (("not a time", 10, 900, 0), "start_utc"),
    ],
)
def test_bad_input_is_a_scenario_error(args: tuple[object, ...], fragment: str) -> None:
    with pytest.raises(ScenarioError, match=fragment):
        w.synthesise_weather(*args)  # type: ignore[arg-type]


def test_bad_times_and_seeds_of_the_parts_are_scenario_errors() -> None:
    naive = pd.date_range("2025-01-01", periods=3, freq="h")
    with pytest.raises(ScenarioError, match="UTC"):
        w.temperature_k(naive, 0)
    utc = naive.tz_localize("UTC")
    with pytest.raises(ScenarioError, match="seed"):
        w.temperature_k(utc, -3)
    with pytest.raises(ScenarioError, match="seed"):
        w.daily_clearness(naive, -1)


def test_bad_plane_is_a_scenario_error() -> None:
    wx = w.synthesise_weather("2025-07-07T00:00Z", 4, 900, 0)
    with pytest.raises(ScenarioError, match="tilt_deg"):
        w.poa_w_m2(wx, tilt_deg=120.0, azimuth_deg=180.0)
    with pytest.raises(ScenarioError, match="lacks"):
        w.poa_w_m2(wx.drop(columns="dni_w_m2"), tilt_deg=30.0, azimuth_deg=180.0)
