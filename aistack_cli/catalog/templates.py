"""Commented starting points for new sheets (``aistack specs template KIND``).

Each template is a complete sheet: the numbers are examples to overwrite, and every ``source`` holds
the REPLACE marker, which validation refuses until it names a public document (title, section or
table, date). tests/test_catalog.py fills the markers in and checks that each template validates.
"""

from __future__ import annotations

COMMON = """\
# Save as a .yaml file and load it with --specs PATH (or AISTACK_SPECS). A sheet with the id of a
# bundled sheet replaces it; `aistack specs diff ID --specs PATH` shows what you changed.
# Quantities take units as datasheets print them (989.5 TFLOP/s, 80 GB, 81559 MiB, 450 GB/s, 700 W).
# Every group of figures needs a `source`: the public document (title, section or table, date).
# `confidence: medium|low` marks a figure that is a secondary copy or an estimate. Validate with
# `aistack specs list --specs PATH`: it names every problem of every sheet at once.
"""

ACCELERATOR = COMMON + """\
id: my-accelerator               # lower-case kebab; aliases below are other spellings of THIS part only
kind: accelerator
name: Example Accelerator 96 GB
vendor: Example Corp
aliases: []
release:
  year: 2026
  source: "REPLACE: launch announcement (title, date)"
status:                          # optional; required wording for parts only announced: state announced + date
  state: shipping                # shipping | announced | sampling | end-of-life
  date: 2026-03
  source: "REPLACE: availability announcement (title, date)"
compute:
  source: "REPLACE: datasheet (title, table or column, date)"
  # Peak rates WITHOUT structured sparsity per precision. A vendor headline marked 'with sparsity' is
  # halved for dense; put the headline itself under sparse.
  dense_basis: "dense = the datasheet's sparse figures / 2"   # required when status is announced
  dense:
    bf16: 1000 TFLOP/s
    fp8: 2000 TFLOP/s
  sparse:
    bf16: 2000 TFLOP/s
    fp8: 4000 TFLOP/s
memory:
  source: "REPLACE: datasheet and driver reading (e.g. nvidia-smi output, date)"
  capacity: 98304 MiB            # driver-visible total in binary units (MiB/GiB) or exact bytes
  vendor_capacity: 96 GB         # the marketing figure
  basis: driver-visible          # or vendor-binary: the vendor's figure in GiB when no driver reading exists
  bandwidth: 4 TB/s
power:                           # optional
  source: "REPLACE: datasheet (title, date)"
  tdp: 700 W
  estimated: false               # true when the vendor publishes none and the source derives it
scale_up:                        # optional: the accelerator's own link to its peers
  source: "REPLACE: datasheet (title, date)"
  interconnect: nvlink-4         # an interconnect id (`aistack specs list --kind interconnect`)
  bandwidth_per_direction: 450 GB/s
  domain: 8                      # accelerators in one scale-up domain
silicon:                         # optional: what the package is made of
  source: "REPLACE: whitepaper or teardown (title, date)"
  compute_dies: 1
  die_area: 800 mm2
  node: n4                       # a process-node id
  memory_type: HBM3e
  memory_stacks: 6
  stack_capacity: 16 GiB
  packaging: CoWoS-S
prices:                          # optional; every published price, each with its basis
  - type: on-demand              # on-demand | reserved | spot | purchase
    provider_class: neocloud     # hyperscaler | neocloud | marketplace | vendor | analyst
    provider: Example Cloud
    usd_per_hour: 2.50           # per accelerator-hour (purchase: usd per accelerator instead)
    as_of: 2026-03
    source: "REPLACE: price list (page title, date)"
notes: ""
"""

INTERCONNECT = COMMON + """\
id: my-fabric
kind: interconnect
name: Example 800G fabric
family: ethernet                 # nvlink, nvswitch, pcie, infiniband, ethernet, ici, infinity-fabric, neuronlink, gaudi-roce, ualink
aliases: []
year: 2026
year_source: "REPLACE: standard or product announcement (title, date)"
bandwidth:
  source: "REPLACE: specification (title, section, date)"
  per_link_per_direction: 800 Gb/s
  links_per_device: 1
  per_device_per_direction: 800 Gb/s
latency:
  source: "REPLACE: measurement or model (title, table, date)"
  typical: 14 us
switch:                          # optional: the fabric's typical switch, without its pluggable optics
  source: "REPLACE: switch user manual (title, specifications table, date)"
  model: Example 51.2T switch
  radix: 64
  power: 1500 W
  power_basis: rated-max         # rated-max | typical | psu-bound | estimate
transceiver:                     # optional: one optical module per port
  source: "REPLACE: transceiver datasheet (title, date)"
  power: 15 W
  kind: pluggable-dsp            # pluggable-dsp | pluggable-lpo | aoc | cpo
notes: ""
"""

SYSTEM = COMMON + """\
id: my-server
kind: system
name: Example 8-GPU server
vendor: Example Corp
aliases: []
accelerator: h100-sxm            # an accelerator id
accelerators: 8
nodes: 1
composition_source: "REPLACE: system datasheet (title, date)"
scale_up:
  interconnect: nvswitch-3
  domain: 8
network:
  source: "REPLACE: system datasheet, networking section (date)"
  nics: 8
  nic_speed: 400 Gb/s
  interconnect: ib-ndr           # the scale-out fabric id
power:
  source: "REPLACE: system datasheet, power section (date)"
  max: 10.2 kW
  basis: rated                   # rated | psu-bound | sum-of-parts | estimate
notes: ""
"""

MODEL = COMMON + """\
id: my-model
kind: model
name: Example 8B
family: example
developer: Example Lab
aliases: []
release:
  source: "REPLACE: model card or announcement (title, date)"
  date: 2026-01-15
architecture:
  source: "REPLACE: config.json of the released checkpoint (repository, revision, date)"
  layers: 32
  hidden_size: 4096
  heads: 32
  kv_heads: 8
  head_dim: 128
  ffn_size: 14336
  vocab_size: 128256
  max_context: 131072
  attention: gqa                 # mha | gqa | mqa | mla (mla needs an mla: block)
  # sliding_window: 4096         # local layers: window and how many layers use it
  # sliding_window_layers: 16
  # chunked_attention: {chunk: 8192, layers: 24}   # Llama 4-style chunked local attention
parameters:
  source: "REPLACE: model card (title, date)"
  total: 8.03B
  active: 8.03B
training:                        # optional
  source: "REPLACE: model card or paper (title, section, date)"
  tokens: 15T
weights:                         # optional: the released checkpoint's number format
  source: "REPLACE: model card (title, date)"
  dtype: bf16                    # fp32, bf16, fp16, fp8, mxfp8, int8, mxfp4, nvfp4, int4
notes: ""
"""

PROCESS_NODE = COMMON + """\
id: my-node
kind: process-node
name: Example 3 nm
foundry: Example Foundry
aliases: []
year: 2025
year_source: "REPLACE: foundry announcement (title, date)"
wafer:
  source: "REPLACE: report of the wafer price (title, date)"
  cost_usd: 20000
  cost_year: 2025
  diameter: 300 mm
  kind: price                    # price | asp | forecast | rumour
defect_density:
  source: "REPLACE: foundry disclosure (title, date)"
  per_cm2: 0.1
  stage: "start of volume production"
  assumed: false                 # true when the foundry publishes no D0
notes: ""
"""

PART = COMMON + """\
id: my-hbm-stack
kind: part
name: Example HBM3E 12-high stack (36 GB)
category: hbm-stack              # hbm-stack | interposer | assembly-test | mask-set | substrate
year: 2025
capacity: 36 GiB                 # memory stacks only
price:
  source: "REPLACE: market report (title, date)"
  usd: 400
  as_of: 2025
  per: stack                     # stack | package | wafer | set | module
notes: ""
"""

DEFAULT = COMMON + """\
id: my-default
kind: default
name: Example efficiency for my site
value: 0.5
p10: 0.4                         # published spread, optional (give both or neither)
p90: 0.6
unit: fraction
used_by: [train-cost]
evidence: "REPLACE: what the value rests on, in one line"
sources:
  - "REPLACE: paper or report (title, table, date)"
calibration_cases: []
fit: ""
notes: ""
"""

TEMPLATES = {
    "accelerator": ACCELERATOR,
    "interconnect": INTERCONNECT,
    "system": SYSTEM,
    "model": MODEL,
    "process-node": PROCESS_NODE,
    "part": PART,
    "default": DEFAULT,
}
