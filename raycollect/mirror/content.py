"""CSV content for generated archive files, following the real archive's columns and quirks.

- Columns per type as in the real archive; header rows where it has them: futures and options yes,
  spot never, USD-M klines before 2022-05 no, USD-M trades/aggTrades before 2022-08-10 no.
- Spot times in microseconds from 2025-01-01, milliseconds before; futures and options milliseconds.
- Booleans ``True``/``False`` on spot, ``true``/``false`` elsewhere.
- Prices start where the series stands at the file's first moment (a level per symbol, near the real one for
  BTC, ETH, BNB and SOL, moving slowly and smoothly with time) and follow a seeded random walk inside the
  file, so consecutive days join up and generated candles sit next to real ones; times increase
  monotonically inside the file's period.
- Candles fill their period: a monthly 1h file holds every hour of its month (720 or 744 rows).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import random
from collections.abc import Callable, Iterator
from typing import NamedTuple

from raycollect.archive import KLINE_TYPES

_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000, "mo": 2_592_000_000}
SPOT_MICROS_FROM = dt.date(2025, 1, 1)
USDM_KLINE_HEADER_FROM = dt.date(2022, 5, 1)
USDM_TRADES_HEADER_FROM = dt.date(2022, 8, 10)

HEADERS: dict[str, str] = {
    "klines": "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
              "taker_buy_quote_volume,ignore",
    "trades": "id,price,qty,quote_qty,time,is_buyer_maker",
    "trades_cm": "id,price,qty,base_qty,time,is_buyer_maker",
    "aggTrades": "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker",
    "fundingRate": "calc_time,funding_interval_hours,last_funding_rate",
    "metrics": "create_time,symbol,sum_open_interest,sum_open_interest_value,count_toptrader_long_short_ratio,"
               "sum_toptrader_long_short_ratio,count_long_short_ratio,sum_taker_long_short_vol_ratio",
    "bookDepth": "timestamp,percentage,depth,notional",
    "bookTicker": "update_id,best_bid_price,best_bid_qty,best_ask_price,best_ask_qty,transaction_time,event_time",
    "liquidationSnapshot": "time,side,order_type,time_in_force,original_quantity,price,average_price,order_status,"
                           "last_fill_quantity,accumulated_fill_quantity",
    "BVOLIndex": "calc_time,symbol,base_asset,quote_asset,index_value",
    "EOHSummary": "date,hour,symbol,underlying,type,strike,open,high,low,close,volume_contracts,volume_usdt,"
                  "best_bid_price,best_ask_price,best_bid_qty,best_ask_qty,best_buy_iv,best_sell_iv,mark_price,"
                  "mark_iv,delta,gamma,vega,theta,openinterest_contracts,openinterest_usdt",
}  # fmt: skip
HEADERS.update({k: HEADERS["klines"] for k in KLINE_TYPES})


def interval_ms(interval: str) -> int:
    unit = "mo" if interval.endswith("mo") else interval[-1]
    return int(interval[: -len(unit)]) * _MS[unit]


def has_header(market: str, data_type: str, period: dt.date) -> bool:
    if market == "spot":
        return False
    if market == "futures_um" and data_type in KLINE_TYPES:
        return period >= USDM_KLINE_HEADER_FROM
    if market == "futures_um" and data_type in ("trades", "aggTrades"):
        return period >= USDM_TRADES_HEADER_FROM
    return True


def time_factor(market: str, period: dt.date) -> int:
    """1000 where times are microseconds (spot from 2025-01-01), else 1 (milliseconds)."""
    return 1000 if market == "spot" and period >= SPOT_MICROS_FROM else 1


def header_for(market: str, data_type: str) -> str:
    return HEADERS["trades_cm" if (market == "futures_cm" and data_type == "trades") else data_type]


def csv_lines(
    market: str, data_type: str, symbol: str, interval: str | None, partition: str, period: dt.date,
    rows: int, rng: random.Random,
) -> Iterator[str]:
    """Lines of one file's CSV (``\\n`` endings added by the caller); unbounded types yield ``rows`` rows."""
    start = dt.datetime(period.year, period.month, period.day, tzinfo=dt.timezone.utc)
    if partition == "daily":
        span_ms = 86_400_000
    else:
        nxt = dt.date(period.year + period.month // 12, period.month % 12 + 1, 1)
        span_ms = (nxt - period).days * 86_400_000
    t0 = int(start.timestamp() * 1000)
    if has_header(market, data_type, period):
        yield header_for(market, data_type)
    maker = _bool_text(market)
    price = series_price(symbol, t0)
    f = time_factor(market, period)
    gen = _ROWS.get(data_type) or _kline_rows
    yield from gen(_FileSpec(symbol, interval, t0, span_ms, rows, rng, f, maker, market), price)


class _FileSpec(NamedTuple):
    """What every row generator needs to know about the file it writes."""

    symbol: str
    interval: str | None
    t0: int  # the period's first millisecond
    span: int  # the period's length in milliseconds
    rows: int  # cap for types without a natural row count
    rng: random.Random
    f: int  # 1000 where times are microseconds, else 1
    maker: Callable[[bool], str]
    market: str


def _bool_text(market: str) -> Callable[[bool], str]:
    if market == "spot":
        return lambda b: "True" if b else "False"
    return lambda b: "true" if b else "false"


#: Levels near the real ones (2026), so generated candles sit next to the real files without a jump.
_LEVELS = {"BTC": 80_000.0, "ETH": 3_000.0, "BNB": 600.0, "SOL": 150.0}


def series_price(symbol: str, t_ms: int) -> float:
    """Where a symbol's price stands at ``t_ms``: its level, moved by slow waves (a few percent over weeks), the
    same whichever file asks, so a day's first candle opens near where the day before closed."""
    level = next((v for k, v in _LEVELS.items() if symbol.startswith(k)), None)
    digest = int.from_bytes(hashlib.sha256(symbol.encode()).digest()[:8], "big")
    if level is None:
        level = 1 + (digest % 50_000) / 100  # 1 .. 501
    phase = (digest % 1000) / 1000 * 2 * math.pi
    days = t_ms / 86_400_000
    return level * (1 + 0.04 * math.sin(days / 9 + phase) + 0.015 * math.sin(days / 2.3 + 2 * phase))


def _walk(price: float, rng: random.Random) -> float:
    return max(0.0001, price * (1 + rng.gauss(0, 0.001)))


def _kline_rows(c: _FileSpec, price: float) -> Iterator[str]:
    interval, t0, span, rng, f = c.interval, c.t0, c.span, c.rng, c.f
    step = interval_ms(interval or "1d")
    n = max(1, span // step) if step <= span else 1  # candles fill their period, as the archive's do
    for i in range(n):
        o = price
        price = _walk(price, rng)
        hi, lo = max(o, price) * (1 + rng.random() * 0.001), min(o, price) * (1 - rng.random() * 0.001)
        vol = rng.uniform(1, 1000)
        ot = (t0 + i * step) * f
        ct = (t0 + (i + 1) * step) * f - 1
        tb = vol * rng.random()
        yield (f"{ot},{o:.8f},{hi:.8f},{lo:.8f},{price:.8f},{vol:.8f},{ct},{vol * price:.8f},"
               f"{rng.randint(100, 90_000)},{tb:.8f},{tb * price:.8f},0")


def _time_and_flags(t0: int, i: int, step: int, f: int, rng: random.Random, maker: Callable[[bool], str],
                    market: str) -> tuple[int, str]:
    """A trade's time inside its slot, and its boolean columns (spot adds is_best_match)."""
    t = (t0 + i * step + rng.randint(0, step - 1)) * f
    return t, f",{maker(rng.random() < 0.5)}" + (f",{maker(True)}" if market == "spot" else "")


def _trade_rows(c: _FileSpec, price: float) -> Iterator[str]:
    t0, span, rows, rng, f, maker, market = c.t0, c.span, c.rows, c.rng, c.f, c.maker, c.market
    tid = rng.randint(10**6, 10**9)
    step = max(1, span // max(rows, 1))
    for i in range(rows):
        price = _walk(price, rng)
        qty = rng.uniform(0.001, 5)
        t, tail = _time_and_flags(t0, i, step, f, rng, maker, market)
        yield f"{tid + i},{price:.2f},{qty:.5f},{qty * price:.5f},{t}{tail}"


def _agg_rows(c: _FileSpec, price: float) -> Iterator[str]:
    t0, span, rows, rng, f, maker, market = c.t0, c.span, c.rows, c.rng, c.f, c.maker, c.market
    aid, first = rng.randint(10**6, 10**9), rng.randint(10**6, 10**9)
    step = max(1, span // max(rows, 1))
    for i in range(rows):
        price = _walk(price, rng)
        n = rng.randint(1, 5)
        t, tail = _time_and_flags(t0, i, step, f, rng, maker, market)
        yield f"{aid + i},{price:.2f},{rng.uniform(0.001, 5):.5f},{first},{first + n - 1},{t}{tail}"
        first += n


def _funding_rows(c: _FileSpec, price: float) -> Iterator[str]:
    t0, span, rng = c.t0, c.span, c.rng
    for i in range(span // 28_800_000):
        yield f"{t0 + i * 28_800_000},8,{rng.gauss(0.0001, 0.0001):.8f}"


def _text_time(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _metrics_rows(c: _FileSpec, price: float) -> Iterator[str]:
    symbol, t0, span, rows, rng = c.symbol, c.t0, c.span, c.rows, c.rng
    for i in range(min(rows, span // 300_000)):
        oi = rng.uniform(1e4, 1e5)
        yield (f"{_text_time(t0 + i * 300_000)},{symbol},{oi:.4f},{oi * price:.8f},{rng.uniform(0.5, 3):.8f},"
               f"{rng.uniform(0.5, 3):.5f},{rng.uniform(0.5, 3):.8f},{rng.uniform(0.5, 2):.5f}")


def _depth_rows(c: _FileSpec, price: float) -> Iterator[str]:
    t0, rows, rng = c.t0, c.rows, c.rng
    for i in range(max(1, rows // 10)):
        stamp = _text_time(t0 + i * 30_000)
        for pct in (-5, -4, -3, -2, -1, 1, 2, 3, 4, 5):
            depth = rng.uniform(100, 10_000) * abs(pct)
            yield f"{stamp},{pct},{depth:.8f},{depth * price:.8f}"


def _ticker_rows(c: _FileSpec, price: float) -> Iterator[str]:
    t0, span, rows, rng = c.t0, c.span, c.rows, c.rng
    uid = rng.randint(10**9, 10**12)
    step = max(1, span // max(rows, 1))
    for i in range(rows):
        price = _walk(price, rng)
        t = t0 + i * step
        yield f"{uid + i},{price:.2f},{rng.uniform(0, 9):.3f},{price * 1.0001:.2f},{rng.uniform(0, 9):.3f},{t},{t + 3}"


def _liq_rows(c: _FileSpec, price: float) -> Iterator[str]:
    t0, span, rows, rng = c.t0, c.span, c.rows, c.rng
    step = max(1, span // max(rows, 1))
    for i in range(rows):
        price = _walk(price, rng)
        q = rng.randint(1, 200)
        yield f"{t0 + i * step},{rng.choice(['BUY', 'SELL'])},LIMIT,IOC,{q},{price:.2f},{price:.2f},FILLED,{q},{q}"


def _bvol_rows(c: _FileSpec, price: float) -> Iterator[str]:
    symbol, t0, span, rows, rng = c.symbol, c.t0, c.span, c.rows, c.rng
    base = symbol.split("BVOL")[0] or "BTC"
    for i in range(min(rows, span // 60_000)):
        yield f"{t0 + i * 60_000},{symbol},{base},USDT,{rng.uniform(30, 90):.2f}"


def _eoh_rows(c: _FileSpec, price: float) -> Iterator[str]:
    symbol, t0, rows, rng = c.symbol, c.t0, c.rows, c.rng
    day = _text_time(t0)[:10]
    for i in range(min(rows, 24)):
        strike = round(price, -3)
        vals = ",".join(f"{rng.uniform(0, 1):.4f}" for _ in range(20))
        yield f"{day},{i},{symbol}-{day[2:4]}{day[5:7]}{day[8:10]}-{strike:.0f}-C,{symbol},C,{strike:.0f},{vals}"


_ROWS: dict[str, Callable[..., Iterator[str]]] = {
    "trades": _trade_rows,
    "aggTrades": _agg_rows,
    "fundingRate": _funding_rows,
    "metrics": _metrics_rows,
    "bookDepth": _depth_rows,
    "bookTicker": _ticker_rows,
    "liquidationSnapshot": _liq_rows,
    "BVOLIndex": _bvol_rows,
    "EOHSummary": _eoh_rows,
}
