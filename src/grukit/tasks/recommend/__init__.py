"""Session-based recommendation with GRU4Rec, evaluated beside most-popular and item-kNN."""

from .evaluate import ItemKNN, MostPopular, evaluate, metrics_from_ranks, ranks_of
from .gru4rec import GRU4Rec, GRU4RecConfig
from .items import ItemMap
from .model import GRU4RecNet, bpr_max_loss, cross_entropy_loss

__all__ = ["GRU4Rec", "GRU4RecConfig", "GRU4RecNet", "ItemKNN", "ItemMap", "MostPopular",
           "bpr_max_loss", "cross_entropy_loss", "evaluate", "metrics_from_ranks", "ranks_of"]
