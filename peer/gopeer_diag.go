package peer

// LockWaiting counts this side's AcquireLock calls that are queued or
// waiting for the remote's lockResponse, so a scenario can make its calls
// in a known order (the seed's "queues in order" specs).
func (p *GoPeer) LockWaiting() int { return p.lock.Waiting() }
