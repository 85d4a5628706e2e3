using System.Runtime.InteropServices;
using VirtioFsd.Fuse.Server;
using VirtioFsd.Linux;
using VirtioFsd.Linux.IoUring;

namespace VirtioFsd.Device;

/// <summary>
/// File operations in flight: one slot per operation (user_data = slot index), each with a native
/// iovec array the SQE points at, and the shutdown that cancels and reaps them all.
/// </summary>
internal sealed partial class IoUringQueueWorker
{
    private readonly FileIoOperation?[] _slots;
    private readonly nint[] _slotVectors;
    private readonly int[] _slotVectorCapacity;
    private readonly Stack<int> _freeSlots = new();
    private int _busySlots;

    /// <summary>Every READ/WRITE through the ring, never inline (tests drive the ring path with it).</summary>
    public bool SubmitsAllTransfers { get; private init; }

    /// <summary>Called by the server on this worker's thread while it handles a request.</summary>
    public unsafe bool TrySubmit(FileIoOperation operation)
    {
        ArgumentNullException.ThrowIfNull(operation);
        if (_stopping || Thread.CurrentThread != _thread || _freeSlots.Count == 0)
        {
            return false;
        }
        int slot = _freeSlots.Peek();
        ReadOnlySpan<IoVec> vectors = operation.Vectors;
        IoVec* iov = null;
        if (operation.Kind is FileIoKind.Read or FileIoKind.Write)
        {
            iov = SlotVectors(slot, vectors.Length);

            // Sound: the slot's native array holds at least vectors.Length entries (SlotVectors grew it).
            vectors.CopyTo(new Span<IoVec>(iov, vectors.Length));
        }
        if (!_ring.TryGetSqe(out SubmissionEntry sqe))
        {
            return false;
        }
        _freeSlots.Pop();
        ulong tag = (ulong)slot;
        FileIoRingSubmission.Prepare(sqe, operation, iov, tag);
        _slots[slot] = operation;
        _busySlots++;
        return true;
    }

    /// <summary>The slot's native iovec array, grown to hold <paramref name="count"/> entries.</summary>
    private unsafe IoVec* SlotVectors(int slot, int count)
    {
        if (_slotVectorCapacity[slot] < count)
        {
            NativeMemory.Free((void*)_slotVectors[slot]);
            int capacity = Math.Max(count, 8);
            _slotVectors[slot] = (nint)NativeMemory.Alloc((nuint)capacity, (nuint)sizeof(IoVec));
            _slotVectorCapacity[slot] = capacity;
        }
        return (IoVec*)_slotVectors[slot];
    }

    private void CompleteSlot(ulong tag, int result)
    {
        if (tag >= (ulong)_slots.Length || _slots[(int)tag] is not FileIoOperation op)
        {
            _log.Error("Queue {Queue}: completion for unknown io_uring operation {Tag}", _queue.Index, tag);
            return;
        }
        int slot = (int)tag;
        _slots[slot] = null;
        _freeSlots.Push(slot);
        _busySlots--;

        // Writes the reply and publishes the used entry (through Complete) on this thread.
        op.Complete(result);
    }

    /// <summary>
    /// Ends the worker: cancels every operation in flight and reaps until each has posted its
    /// completion (a read already running in a kernel worker finishes first), answering the guest
    /// for each; only then disposes the ring. After this nothing the ring started touches guest memory.
    /// </summary>
    private void Shutdown()
    {
        _stopping = true;
        try
        {
            if (_busySlots > 0 && _ring.TryGetSqe(out SubmissionEntry cancel))
            {
                cancel.AsyncCancel(0, IoUringConstants.AsyncCancelAny | IoUringConstants.AsyncCancelAll, CancelTag);
            }
            while (_busySlots > 0)
            {
                int r = _ring.SubmitAndWait(1, null);
                if (r < 0)
                {
                    _log.Error("Queue {Queue}: io_uring_enter failed while draining: {Error}", _queue.Index, Errno.Describe(r));
                    break;
                }
                while (_ring.TryGetCompletion(out IoUringCqe cqe))
                {
                    if (cqe.UserData < (ulong)_slots.Length)
                    {
                        CompleteSlot(cqe.UserData, cqe.Result);
                    }
                }
            }
            _queue.NotifyIfNeeded();
        }
        catch (Exception e)
        {
            _log.Error(e, "Queue {Queue}: draining the io_uring failed", _queue.Index);
        }
        finally
        {
            // Cancels and reaps whatever is left (the polls) before unmapping.
            _ring.Dispose();

            // Only if draining failed: Dispose has waited for the kernel, so these answer ECANCELED safely.
            for (int i = 0; i < _slots.Length && _busySlots > 0; i++)
            {
                if (_slots[i] is not null)
                {
                    CompleteSlot((ulong)i, -Errno.ECANCELED);
                }
            }
            FreeSlotVectors();
        }
    }

    /// <summary>Frees the native iovec arrays (only once the ring no longer uses them).</summary>
    private unsafe void FreeSlotVectors()
    {
        for (int i = 0; i < _slotVectors.Length; i++)
        {
            NativeMemory.Free((void*)_slotVectors[i]);
            _slotVectors[i] = 0;
            _slotVectorCapacity[i] = 0;
        }
    }
}
