/**
 * Node flags the pipeline's processes run with (the `bin` shebang, the npm scripts, the bench's
 * children). A young generation of up to 128 MB per semi-space: the topology allocates a few
 * short-lived objects per sample, and with V8's default (16 MB) garbage collection took a fifth
 * of its time; on the bench's batched run this flag cut the topology's CPU time by about a fifth.
 */
export const NODE_FLAGS = ['--max-semi-space-size=128'];
