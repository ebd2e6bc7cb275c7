import type { Admin } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { partitionCount } from '../../core/kafka.js';

/** An admin whose metadata answers are `answers`, in turn (an Error is thrown). */
function admin(answers: Array<Error | number>): { admin: Admin; asked: () => number } {
  let asked = 0;
  const fetchTopicMetadata = async () => {
    const answer = answers[Math.min(asked++, answers.length - 1)] as Error | number;
    if (answer instanceof Error) throw answer;
    return {
      topics: [{ name: 't', partitions: Array.from({ length: answer }, (_, i) => ({ partitionId: i })) }],
    };
  };
  return { admin: { fetchTopicMetadata } as unknown as Admin, asked: () => asked };
}

/** What kafkajs throws when the broker does not (yet) host a topic's partitions. */
function unknownTopic(): Error {
  return Object.assign(new Error('This server does not host this topic-partition'), {
    type: 'UNKNOWN_TOPIC_OR_PARTITION',
  });
}

describe('partitionCount', () => {
  it('asks again while the broker does not host a topic it has just created', async () => {
    const a = admin([unknownTopic(), unknownTopic(), 4]);
    await expect(partitionCount(a.admin, 't')).resolves.toBe(4);
    expect(a.asked()).toBe(3);
  });

  it('gives up after some attempts, and at once on other errors', async () => {
    const gone = admin([unknownTopic()]);
    await expect(partitionCount(gone.admin, 't')).rejects.toThrow('does not host');
    expect(gone.asked()).toBe(6);
    const other = admin([new Error('broker down')]);
    await expect(partitionCount(other.admin, 't')).rejects.toThrow('broker down');
    expect(other.asked()).toBe(1);
  });
});
