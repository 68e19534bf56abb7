"""Default configuration: every key a run can set, with one comment each.

YAML files under configs/ are short diffs against these defaults; they may inherit from one
another with ``_BASE_``. Modules never read this: the build functions turn it into arguments and
objects (the ``build.py`` files and ``engine.precision.make_precision``); ``engine.run`` reads only what
decides what runs (TRAIN.ENABLE, TEST.ENABLE) and where (OUTPUT_DIR, RNG_SEED).
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
# Local time steps seen by the video stem's second and third convs (1: the first conv's tubelet only; odd).
# 3 lets the first local features compare neighbouring tubelets (repeat-padded in time, so inflated 2D weights
# keep the static-clip output). An ablation of the rotation probe (README, "Main job"); it did not help there.
_C.MODEL.STEM_TIME_KERNEL = 1
# Recompute block activations in the backward pass to save memory on long clips.
_C.MODEL.GRAD_CHECKPOINTING = False
# Wrap the model in torch.compile.
_C.MODEL.COMPILE = False

# ----------------------------------------------------------------------------- data
_C.DATA = CfgNode()
# Dataset layout: "kinetics" (csv annotations), "ssv2" (the released json files), "ucf101" / "hmdb51" (the
# released split files; videos under PATH_PREFIX) or "folder" (PATH_TO_DATA_DIR holds train/<class>/<video>,
# val/<class>/<video> and optionally test/, else test uses val; class names are the sorted folder names of
# train; PATH_PREFIX is not used).
_C.DATA.DATASET = "kinetics"
# Which of the three released train/test splits ucf101 and hmdb51 read: 1, 2 or 3 (other layouts have one).
_C.DATA.SPLIT = 1
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
# Class-name file (one name per line, or json {name: index}), relative to PATH_TO_DATA_DIR; "" looks for
# classnames.txt / classnames.json / classids.json there, else numbers the MODEL.NUM_CLASSES classes
# (SSv2 reads its labels json).
_C.DATA.CLASS_NAMES_FILE = ""
# Train-time spatial sampling: "scale_crop" (short side from TRAIN_JITTER_SCALES, then a random crop) or
# "random_resized_crop".
_C.DATA.TRAIN_CROP_MODE = "scale_crop"
# Area fraction range of the random-resized crop.
_C.DATA.TRAIN_RRC_SCALE = [0.08, 1.0]
# Aspect-ratio range (width / height) of the random-resized crop.
_C.DATA.TRAIN_RRC_RATIO = [0.75, 1.3333]
# Random horizontal flip in training; ignored, with a warning, for layouts that forbid it (ssv2: its labels
# say left and right).
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
# Repeated augmentation: clips cut from each decoded training clip, each augmented on its own
# (MViT and VideoMAE use 2). TRAIN.BATCH_SIZE still counts clips: a step sees TRAIN.BATCH_SIZE /
# NUM_SAMPLE videos, so an epoch (every video once) has NUM_SAMPLE times the steps.
_C.AUG.NUM_SAMPLE = 1

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
# Global batch (clips per optimizer step) BASE_LR refers to; the run's LR scales linearly from it.
_C.SOLVER.BASE_BATCH_SIZE = 64
# Scale the LR with the global batch ("linear": LR = BASE_LR * batch / BASE_BATCH_SIZE) or "none".
_C.SOLVER.LR_SCALING = "linear"
# Optimizer: "adamw" or "sgd".
_C.SOLVER.OPTIMIZING_METHOD = "adamw"
# Weight decay (never applied to norms, biases, position tables: model.no_weight_decay()).
_C.SOLVER.WEIGHT_DECAY = 0.05
# AdamW betas.
_C.SOLVER.BETAS = [0.9, 0.999]
# SGD momentum.
_C.SOLVER.MOMENTUM = 0.9
# SGD Nesterov momentum.
_C.SOLVER.NESTEROV = True
# Layer-wise LR decay: layer l of L gets LR * LAYER_DECAY ** (L - 1 - l); 1.0 switches it off.
_C.SOLVER.LAYER_DECAY = 1.0
# Epochs of training.
_C.SOLVER.MAX_EPOCH = 30
# Epochs of linear warmup (per iteration, may be fractional) before the cosine decay.
_C.SOLVER.WARMUP_EPOCHS = 2.5
# Train exactly this many optimizer steps instead of MAX_EPOCH epochs (the last epoch ends early); the
# cosine ends after them and the warmup keeps its fraction WARMUP_EPOCHS / MAX_EPOCH. 0 switches it off.
_C.SOLVER.MAX_STEPS = 0
# LR at the first warmup iteration, as a fraction of the (scaled) base LR.
_C.SOLVER.WARMUP_START_FACTOR = 0.01
# LR at the end of the cosine, as a fraction of the (scaled) base LR.
_C.SOLVER.COSINE_END_FACTOR = 0.01
# Clip the global gradient norm to this value; 0 switches clipping off.
_C.SOLVER.CLIP_GRAD_NORM = 1.0
# Micro-batches whose gradients are accumulated before each optimizer step.
_C.SOLVER.ACCUM_ITERS = 1
# Keep an exponential moving average of the weights (evaluated and saved alongside).
_C.SOLVER.EMA_ENABLE = False
# EMA decay per optimizer step.
_C.SOLVER.EMA_DECAY = 0.9998

# ----------------------------------------------------------------------------- training
_C.TRAIN = CfgNode()
# Train the model.
_C.TRAIN.ENABLE = True
# Global batch size (all processes together).
_C.TRAIN.BATCH_SIZE = 64
# Initial weights: an authors' 2D checkpoint (inflated) or a 3D checkpoint of ours; "" for none.
_C.TRAIN.CHECKPOINT_FILE_PATH = ""
# Continue from the newest readable checkpoint in OUTPUT_DIR/checkpoints when there is one.
_C.TRAIN.AUTO_RESUME = True
# Resume even when the config differs from the checkpoint's in keys that change the result (the
# differences are logged; the new config is saved as config_<n>.yaml beside config.yaml).
_C.TRAIN.ALLOW_CONFIG_CHANGE = False
# Validate (one view per video) every this many epochs, and after the last epoch.
_C.TRAIN.EVAL_PERIOD = 1
# Write a checkpoint every this many epochs, and after the last epoch.
_C.TRAIN.CHECKPOINT_PERIOD = 1
# Epoch checkpoints kept (the newest ones); the best by validation top-1 is kept besides.
_C.TRAIN.CHECKPOINT_KEEP = 3
# Also write a mid-epoch checkpoint every this many minutes (0: off); only the newest one is kept.
_C.TRAIN.CHECKPOINT_PERIOD_MINUTES = 0.0
# Also write a mid-epoch checkpoint every this many iterations (0: off).
_C.TRAIN.CHECKPOINT_PERIOD_ITERS = 0
# With AUTO_RESUME False (or only unreadable checkpoints there), delete OUTPUT_DIR/checkpoints' files and
# start over; without it such a run is refused.
_C.TRAIN.OVERWRITE = False
# Deterministic algorithms (torch.use_deterministic_algorithms, cuDNN deterministic, no benchmark):
# slower on GPU; ops without a deterministic version raise an error.
_C.TRAIN.DETERMINISTIC = False
# Mixed precision on GPU: "bf16", "fp16" (with a gradient scaler) or "fp32". The CPU runs fp32 unless "bf16".
_C.TRAIN.MIXED_PRECISION = "bf16"
# Also use autocast on the CPU when MIXED_PRECISION is "bf16" (off: the CPU runs fp32).
_C.TRAIN.CPU_AUTOCAST = False

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
# Weights to test when TRAIN.ENABLE is False; "" takes OUTPUT_DIR's best checkpoint, else its newest readable one,
# else TRAIN.CHECKPOINT_FILE_PATH.
_C.TEST.CHECKPOINT_FILE_PATH = ""
# Test the EMA weights (when the checkpoint or the run has them) instead of the raw ones.
_C.TEST.USE_EMA = False
# Per-video scores and labels of the final test, relative to OUTPUT_DIR ("" to skip).
_C.TEST.SAVE_RESULTS_PATH = "test_results.pt"
# Fail the run (after writing the results) when more than this fraction of the test videos could not be read.
_C.TEST.MAX_MISSING_FRACTION = 0.01

# ----------------------------------------------------------------------------- demo
_C.DEMO = CfgNode()
# Checkpoint used by tools/demo.py when --checkpoint is not given ("" for OUTPUT_DIR's best).
_C.DEMO.CHECKPOINT_FILE_PATH = ""
# Class-name file (one name per line, or json {name: index}); "" uses the names saved in the checkpoint.
_C.DEMO.LABEL_FILE_PATH = ""
# Classes listed per window and for the whole video.
_C.DEMO.TOPK = 5
# Length of a sliding window, in seconds (0: the span of one test clip at the video's frame rate).
_C.DEMO.WINDOW_SECONDS = 0.0
# Step between the starts of consecutive windows, in seconds (0: half a window).
_C.DEMO.STRIDE_SECONDS = 0.0
# Test clips spread over each window (as TEST.NUM_ENSEMBLE_VIEWS over a video), each in TEST.NUM_SPATIAL_CROPS crops.
_C.DEMO.CLIPS_PER_WINDOW = 1
# Clips per forward pass.
_C.DEMO.BATCH_SIZE = 8
# Device: "cpu", "cuda", or "" for cuda when available.
_C.DEMO.DEVICE = ""
# Short side of the annotated video, in pixels (0 keeps the input's size; odd sizes lose a row or column).
_C.DEMO.OUTPUT_SHORT_SIDE = 360

# ----------------------------------------------------------------------------- data loader
_C.DATA_LOADER = CfgNode()
# Loader worker processes per training process.
_C.DATA_LOADER.NUM_WORKERS = 4
# Pin host memory for faster copies to the GPU (only when NUM_GPUS > 0).
_C.DATA_LOADER.PIN_MEMORY = True
# Batches each worker prepares ahead.
_C.DATA_LOADER.PREFETCH_FACTOR = 2
# Seconds to wait for one batch from the workers before failing (0: forever); a backstop behind DATA.DECODE_TIMEOUT
# for a worker that hangs outside the decoder.
_C.DATA_LOADER.TIMEOUT = 1800

# ----------------------------------------------------------------------------- processes and the output folder
_C.DIST = CfgNode()
# Minutes a collective operation (all-reduce, barrier) waits for the other processes before the run fails.
_C.DIST.TIMEOUT_MINUTES = 30.0
# Minutes after which the OUTPUT_DIR/.lock of a run on another machine counts as stale (its holder
# touches it every minute); a lock of a dead process on this machine is taken over at once.
_C.DIST.LOCK_STALE_MINUTES = 30.0
# Take OUTPUT_DIR's lock even when another run holds it (only when you know that run is gone).
_C.DIST.BREAK_LOCK = False

# ----------------------------------------------------------------------------- synthetic data
_C.SYNTHETIC = CfgNode()
# Generate the built-in synthetic dataset (DATA.DATASET layout) in DATA.PATH_TO_DATA_DIR when that folder is missing.
_C.SYNTHETIC.GENERATE = False
# Videos per class, split 70/15/15 into train/val/test; MODEL.NUM_CLASSES classes (even, at most 14).
_C.SYNTHETIC.VIDEOS_PER_CLASS = 60
# Frame height and width of the generated videos, in pixels.
_C.SYNTHETIC.SIZE = 64
# Frames per generated video.
_C.SYNTHETIC.NUM_FRAMES = 32
# Seed of the generator (the same seed gives the same videos).
_C.SYNTHETIC.SEED = 0

# ----------------------------------------------------------------------------- run
# GPUs per machine (0 runs on the CPU; -1 takes every visible GPU, none on a CPU-only machine).
_C.NUM_GPUS = -1
# Torch threads of each training process when it runs on the CPU (0: OMP_NUM_THREADS where set, else this
# machine's usable cores shared among its training processes, less one per loader worker, at least 1: on 2
# cores, 2 threads beside a loader worker stall each other at every parallel op; the main job trains ~1.2x
# faster on one).
_C.CPU_THREADS = 0
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
