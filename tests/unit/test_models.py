from raycollect.matrix import load_matrix
from raycollect.models import MATRIX_DATA_TYPE_MAP, DataIngestionTask, DataType, TradeType, map_matrix_data_type
from tests.helpers import MATRIX


def test_every_archive_type_maps_to_a_coarse_data_type():
    names = load_matrix(MATRIX).data_types
    assert sorted(MATRIX_DATA_TYPE_MAP) == names
    assert map_matrix_data_type("premiumIndexKlines") is DataType.KLINES
    assert map_matrix_data_type("aggTrades") is DataType.TRADES
    assert map_matrix_data_type("fundingRate") is DataType.FUNDING_RATES
    assert map_matrix_data_type("nope") is None


def test_seed_task_model_round_trips():
    task = DataIngestionTask(data_type=DataType.KLINES, trade_type=TradeType.OPTIONS, symbols=["BTCBVOLUSDT"])
    assert DataIngestionTask.model_validate_json(task.model_dump_json()) == task
    assert task.target_zone.value == "bronze"
