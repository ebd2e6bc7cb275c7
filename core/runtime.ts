/**
 * Node flags the pipeline's processes run with (the `bin` shebang, the npm scripts, the bench's
 * children). A young generation of up to 32 MB per semi-space: when the topology allocated a few
 * short-lived objects per sample, V8's default (16 MB) spent a fifth of its time collecting and
 * 128 MB paid off; with samples in typed arrays (docs/columnar.md), 32 MB runs as fast as 128 and
 * holds 190 MB less resident (1M samples, 10,000 series: peak RSS 1.23 against 1.43 GB, five runs).
 */
export const NODE_FLAGS = ['--max-semi-space-size=32'];
