package queue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Checkpoints. A node running a job from the queue records, after each
// stage, how many stages have completed and the last one's output:
//
//	PREFIX:checkpoint:{JOBID}   hash: stages (count), output (the last completed stage's output)
//
// A node that takes the job over starts after them instead of from the first
// stage. Only the latest checkpoint is kept (one stage output per running
// job), and it goes when the job is acknowledged, or after CheckpointTTL.

// CheckpointTTL bounds how long a checkpoint outlives its job's last stage.
const CheckpointTTL = 24 * time.Hour

func (q *Queue) checkpointKey(job string) string { return q.o.Prefix + ":checkpoint:{" + job + "}" }

// SaveCheckpoint records that the first stages of job have completed, the
// last with output.
func (q *Queue) SaveCheckpoint(ctx context.Context, job string, stages int, output []byte) error {
	key := q.checkpointKey(job)
	_, err := q.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, key, "stages", stages, "output", output)
		p.PExpire(ctx, key, CheckpointTTL)
		return nil
	})
	if err != nil {
		return fmt.Errorf("queue: checkpoint of job %s: %w", job, err)
	}
	return nil
}

// Checkpoint returns how many stages of job have completed and the last
// one's output; 0 stages when none is recorded.
func (q *Queue) Checkpoint(ctx context.Context, job string) (int, []byte, error) {
	vals, err := q.rdb.HMGet(ctx, q.checkpointKey(job), "stages", "output").Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return 0, nil, fmt.Errorf("queue: checkpoint of job %s: %w", job, err)
	}
	if len(vals) != 2 || vals[0] == nil || vals[1] == nil {
		return 0, nil, nil
	}
	n, err := strconv.Atoi(fmt.Sprint(vals[0]))
	if err != nil || n < 0 {
		return 0, nil, fmt.Errorf("queue: checkpoint of job %s: bad stage count %v", job, vals[0])
	}
	return n, []byte(fmt.Sprint(vals[1])), nil
}

// dropCheckpoint removes job's checkpoint, in p.
func (q *Queue) dropCheckpoint(ctx context.Context, p redis.Pipeliner, job string) {
	p.Del(ctx, q.checkpointKey(job))
}
