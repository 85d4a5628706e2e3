using System.Buffers.Binary;
using VirtioFsd.Bench.Client;
using VirtioFsd.Bench.Fuse;

namespace VirtioFsd.Bench.Workloads;

/// <summary>
/// READ or WRITE of <c>block</c> bytes on an open file: at random block-aligned offsets, or sequentially
/// (each new operation takes the next block, wrapping at the end of the file). One request per operation.
/// </summary>
public sealed class DataProgram : IWorkloadProgram
{
    private readonly ulong _node;
    private readonly ulong _fh;
    private readonly int _block;
    private readonly long _blocks;
    private readonly bool _write;
    private readonly Random? _random;
    private long _next;

    public DataProgram(ulong node, ulong fh, int block, long fileBytes, bool write, Random? random)
    {
        _node = node;
        _fh = fh;
        _block = block;
        _blocks = Math.Max(1, fileBytes / block);
        _write = write;
        _random = random;
    }

    public Step Begin(Slot slot, RequestContext context)
    {
        if (_block > slot.PayloadSize)
        {
            throw new BenchException($"block {_block} exceeds slot payload {slot.PayloadSize}");
        }
        long index = _random is null ? _next++ % _blocks : _random.NextInt64(_blocks);
        ulong offset = (ulong)(index * _block);
        ulong unique = context.NextUnique(slot);
        if (_write)
        {
            int n = FuseRequestWriter.Write(context.Scratch, unique, _node, _fh, offset, (uint)_block);
            context.Commit(slot, n);
            return new Step(n, _block, FuseSize.WriteOut, 0);
        }
        int m = FuseRequestWriter.Read(context.Scratch, FuseOpcode.Read, unique, _node, _fh, offset, (uint)_block);
        context.Commit(slot, m);
        return new Step(m, 0, 0, _block);
    }

    public bool Continue(Slot slot, RequestContext context, ReadOnlySpan<byte> replyArgs, uint replyLength, out Step next)
    {
        next = default;
        uint moved = _write ? BinaryPrimitives.ReadUInt32LittleEndian(replyArgs) : replyLength - FuseSize.OutHeader;
        if (moved != (uint)_block)
        {
            throw new BenchException($"{(_write ? "WRITE" : "READ")} moved {moved} of {_block} bytes");
        }
        slot.Bytes = moved;
        return false;
    }
}
