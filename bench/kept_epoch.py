"""Which epoch should a run keep? Trains a preset as the app does, scores every
epoch's weights on the test set as the epoch ends (never used to choose), and prints
what each way of choosing would have kept: the best validation accuracy (of ties, the
later), the lowest validation loss, or the last epoch.

    DIGITLAB_OFFLINE=1 python -m bench.kept_epoch [--preset "Best CNN"] [--rounds 3]

Each round is one whole run of the preset (Best CNN: its 300-second budget), into the
store of DIGITLAB_HOME; scoring the test set adds about a second an epoch.
"""

from __future__ import annotations

import argparse
import os


def scored_run(preset: str) -> list[dict]:
    """Trains one run of the preset in this process; returns each epoch's validation
    accuracy and loss and its weights' test accuracy."""
    import core.progress
    from core.datasets import load_dataset
    from core.presets import get_preset
    from core.runs import submit
    from core.store import RunStore
    from core.training import execute_run, scale_images

    test = load_dataset(get_preset(preset).config.dataset)
    test_images = scale_images(test.x_test)
    epochs = []
    keeper = core.progress.KeepBestEpoch

    class ScoringKeeper(keeper):
        def on_epoch_end(self, epoch, logs=None):
            super().on_epoch_end(epoch, logs)
            predicted = self.model.predict(test_images, batch_size=1000, verbose=0).argmax(axis=1)
            epochs.append(
                {
                    "epoch": epoch + 1,
                    "val_accuracy": logs["val_accuracy"],
                    "val_loss": logs["val_loss"],
                    "test": float((predicted == test.y_test).mean()),
                }
            )

    store = RunStore()
    # With the keeper on, so that it scores every epoch; the bench only reports what it kept.
    config = get_preset(preset).config.with_changes(keep_best_epoch=True)
    run_id = submit(store, config, f"{preset} (scored per epoch)", start_worker=False)
    assert store.claim_next(os.getpid()) == run_id
    core.progress.KeepBestEpoch = ScoringKeeper  # execute_run imports it when it starts.
    try:
        status = execute_run(store, run_id)
    finally:
        core.progress.KeepBestEpoch = keeper
    assert status == "completed", store.get_run(run_id)["error"]
    return epochs


def main() -> None:
    """Prints each round's epochs and the epoch each way of choosing keeps."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default="Best CNN")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for round_number in range(1, args.rounds + 1):
        epochs = scored_run(args.preset)
        print(f"\nround {round_number}: {args.preset}, {len(epochs)} epochs")
        print(f"{'epoch':>5} {'val acc':>8} {'val loss':>9} {'test':>7}")
        for row in epochs:
            epoch, accuracy, loss, test = row["epoch"], row["val_accuracy"], row["val_loss"], row["test"]
            print(f"{epoch:>5} {accuracy:>8.4f} {loss:>9.4f} {test:>7.4f}")
        later_first = epochs[::-1]  # max and min return the first of ties: the later epoch.
        choices = {
            "best validation accuracy": max(later_first, key=lambda row: row["val_accuracy"]),
            "lowest validation loss": min(later_first, key=lambda row: row["val_loss"]),
            "last epoch": epochs[-1],
        }
        for rule, row in choices.items():
            print(f"kept by {rule:25} epoch {row['epoch']:>2}: test accuracy {row['test']:.4f}")


if __name__ == "__main__":
    main()
