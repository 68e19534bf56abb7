"""Default configuration: every key a run can set, with one comment each.

YAML files under configs/ are short diffs against these defaults; they may inherit from one
another with ``_BASE_``. Modules never read this: ``build.py`` files turn it into arguments.
"""

from fvcore.common.config import CfgNode

_C = CfgNode()

# ----------------------------------------------------------------------------- model
_C.MODEL = CfgNode()
# Registered model name (see videoregion.models.list_models()).
_C.MODEL.NAME = "regionvit3d_small"
# Number of output classes.
_C.MODEL.NUM_CLASSES = 400
# Stochastic depth: drop-path rate of the last block (rises linearly from 0).
_C.MODEL.DROP_PATH_RATE = 0.1
# Dropout before the classifier.
_C.MODEL.HEAD_DROPOUT = 0.0
# Frames of a tubelet (temporal kernel and stride of the local tokenizer).
_C.MODEL.TUBELET_SIZE = 2
# Local time steps covered by one regional token (its tube is TUBELET_SIZE * REGION_STEPS frames).
_C.MODEL.REGION_STEPS = 2
# Recompute block activations in the backward pass to save memory on long clips.
_C.MODEL.GRAD_CHECKPOINTING = False
# Wrap the model in torch.compile.
_C.MODEL.COMPILE = False

# ----------------------------------------------------------------------------- data
_C.DATA = CfgNode()
# Dataset layout: "kinetics" (csv annotations) or "ssv2" (the released json files).
_C.DATA.DATASET = "kinetics"
# Folder with the annotation files ({train,val,test}.csv for kinetics, the json files for ssv2).
_C.DATA.PATH_TO_DATA_DIR = ""
# Prefix joined to every video path of the annotations.
_C.DATA.PATH_PREFIX = ""
# Frames per clip fed to the model.
_C.DATA.NUM_FRAMES = 16
# Frame stride between sampled frames, at TARGET_FPS (dense sampling).
_C.DATA.SAMPLING_RATE = 4
# Frame rate the sampling stride refers to; videos at other rates are resampled in time.
_C.DATA.TARGET_FPS = 30
# Train-time short-side scale range [min, max], in pixels.
_C.DATA.TRAIN_JITTER_SCALES = [256, 320]
# Train-time crop size, in pixels.
_C.DATA.TRAIN_CROP_SIZE = 224
# Test-time short-side scale and crop size, in pixels.
_C.DATA.TEST_CROP_SIZE = 224
# Per-channel mean of the input, on the 0-1 scale (ImageNet's by default).
_C.DATA.MEAN = [0.485, 0.456, 0.406]
# Per-channel standard deviation of the input, on the 0-1 scale (ImageNet's by default).
_C.DATA.STD = [0.229, 0.224, 0.225]
# Video decoder: "decord" or "pyav".
_C.DATA.DECODING_BACKEND = "decord"
# Decoder threads per reader (0 lets the decoder choose).
_C.DATA.DECODING_THREADS = 1
# How test views of one video combine: "sum" of softmax scores or "max".
_C.DATA.ENSEMBLE_METHOD = "sum"
# Class-name file (one name per line, or json {name: index}), relative to PATH_TO_DATA_DIR; "" looks for classnames.txt / classnames.json / classids.json there, else numbers the MODEL.NUM_CLASSES classes (SSv2 reads its labels json).
_C.DATA.CLASS_NAMES_FILE = ""
# Train-time spatial sampling: "scale_crop" (short side from TRAIN_JITTER_SCALES, then a random crop) or "random_resized_crop".
_C.DATA.TRAIN_CROP_MODE = "scale_crop"
# Area fraction range of the random-resized crop.
_C.DATA.TRAIN_RRC_SCALE = [0.08, 1.0]
# Aspect-ratio range (width / height) of the random-resized crop.
_C.DATA.TRAIN_RRC_RATIO = [0.75, 1.3333]
# Random horizontal flip in training (turn off for SSv2, whose labels say left and right).
_C.DATA.RANDOM_FLIP = True
# Seconds a decoder may take for one clip before the video counts as unreadable (0: no limit).
_C.DATA.DECODE_TIMEOUT = 30.0
# Training: other videos drawn in place of an unreadable one before the item is given up.
_C.DATA.MAX_RETRIES = 10
# Stop with an error once more than this fraction of video reads failed (after 32 reads).
_C.DATA.MAX_BAD_FRACTION = 0.5

# ----------------------------------------------------------------------------- augmentation
_C.AUG = CfgNode()
# Apply RandAugment and random erasing in training.
_C.AUG.ENABLE = False
# RandAugment: operations applied per clip (0 turns RandAugment off).
_C.AUG.NUM_OPS = 2
# RandAugment: magnitude of every operation, out of AUG.NUM_MAGNITUDE_BINS - 1.
_C.AUG.MAGNITUDE = 9
# RandAugment: number of magnitude steps.
_C.AUG.NUM_MAGNITUDE_BINS = 31
# Random erasing: probability of erasing one box (the same in every frame) with noise.
_C.AUG.RE_PROB = 0.25

# ----------------------------------------------------------------------------- mixup
_C.MIXUP = CfgNode()
# Mix clips of a batch (mixup or cutmix) in training.
_C.MIXUP.ENABLE = False
# Label smoothing applied to the (mixed) targets.
_C.MIXUP.LABEL_SMOOTH_VALUE = 0.1
# Mixup weight ~ Beta(ALPHA, ALPHA); 0 turns mixup off.
_C.MIXUP.ALPHA = 0.8
# Cutmix weight ~ Beta(CUTMIX_ALPHA, CUTMIX_ALPHA); 0 turns cutmix off.
_C.MIXUP.CUTMIX_ALPHA = 1.0
# Probability that a batch is mixed at all.
_C.MIXUP.PROB = 1.0
# Probability of cutmix rather than mixup when both are on.
_C.MIXUP.SWITCH_PROB = 0.5

# ----------------------------------------------------------------------------- optimisation
_C.SOLVER = CfgNode()
# Learning rate for a global batch of SOLVER.BASE_BATCH_SIZE clips.
_C.SOLVER.BASE_LR = 1e-3

# ----------------------------------------------------------------------------- training
_C.TRAIN = CfgNode()
# Train the model.
_C.TRAIN.ENABLE = True
# Global batch size (all processes together).
_C.TRAIN.BATCH_SIZE = 64
# Initial weights: an authors' 2D checkpoint (inflated) or a 3D checkpoint of ours; "" for none.
_C.TRAIN.CHECKPOINT_FILE_PATH = ""

# ----------------------------------------------------------------------------- testing
_C.TEST = CfgNode()
# Test the model after training (or alone when TRAIN.ENABLE is False).
_C.TEST.ENABLE = True
# Global batch size at test time.
_C.TEST.BATCH_SIZE = 64
# Temporal clips per video at test time.
_C.TEST.NUM_ENSEMBLE_VIEWS = 10
# Spatial crops per clip at test time (1 centre or 3 along the long side).
_C.TEST.NUM_SPATIAL_CROPS = 3

# ----------------------------------------------------------------------------- demo
_C.DEMO = CfgNode()
# Checkpoint used by tools/demo.py when --checkpoint is not given ("" for OUTPUT_DIR's best).
_C.DEMO.CHECKPOINT_FILE_PATH = ""

# ----------------------------------------------------------------------------- data loader
_C.DATA_LOADER = CfgNode()
# Loader worker processes per training process.
_C.DATA_LOADER.NUM_WORKERS = 4
# Pin host memory for faster copies to the GPU (only when NUM_GPUS > 0).
_C.DATA_LOADER.PIN_MEMORY = True
# Batches each worker prepares ahead.
_C.DATA_LOADER.PREFETCH_FACTOR = 2
# Seconds to wait for one batch from the workers before failing (0: forever); a backstop behind DATA.DECODE_TIMEOUT.
_C.DATA_LOADER.TIMEOUT = 0

# ----------------------------------------------------------------------------- run
# GPUs per machine (0 trains on the CPU).
_C.NUM_GPUS = 1
# Machines taking part in the run.
_C.NUM_SHARDS = 1
# Index of this machine among NUM_SHARDS.
_C.SHARD_ID = 0
# Folder for checkpoints, logs and results.
_C.OUTPUT_DIR = "./output"
# Seed of every random number generator of the run.
_C.RNG_SEED = 0
# Logging interval, in iterations.
_C.LOG_PERIOD = 10


def get_defaults() -> CfgNode:
    """A fresh copy of the defaults (the module-level node is never handed out)."""
    return _C.clone()
