namespace VirtioFsd.VhostUserFrontend;

/// <summary>The connection sequence of QEMU 7.2's vhost-user-fs-pci (hw/virtio/vhost-user.c, vhost.c).</summary>
public sealed partial class VhostUserFrontend
{
    /// <summary>Virtio bits vhost-user-fs lets through to the backend (hw/virtio/vhost-user-fs.c user_feature_bits).</summary>
    public const ulong QemuFsFeatureMask = Proto.FeatureVersion1 | Proto.FeatureIndirectDesc | Proto.FeatureEventIdx
        | (1UL << 24) /* NOTIFY_ON_EMPTY */ | (1UL << 34) /* RING_PACKED */ | (1UL << 33) /* IOMMU_PLATFORM */
        | (1UL << 40) /* RING_RESET */;

    /// <summary>The backend channel's other end when one was offered and sent (SET_BACKEND_REQ_FD).</summary>
    public FrontendSocket? BackendChannel { get; private set; }

    /// <summary>
    /// Device initialisation up to (not including) memory and queues, in the order QEMU 7.2 sends it
    /// (observed against our server): GET_FEATURES, GET_PROTOCOL_FEATURES, SET_PROTOCOL_FEATURES,
    /// GET_QUEUE_NUM (with MQ), GET_MAX_MEM_SLOTS (with CONFIGURE_MEM_SLOTS), SET_BACKEND_REQ_FD (with
    /// BACKEND_REQ), SET_OWNER, GET_FEATURES, then (at device start) SET_FEATURES. Returns the queue count.
    /// </summary>
    public int Initialize(ulong wantedFeatures = QemuFsFeatureMask)
    {
        ulong features = GetFeatures();
        int queues = 1;
        if ((features & Proto.FeatureProtocolFeatures) != 0)
        {
            ulong protocol = GetProtocolFeatures() & Proto.QemuProtocolFeatures;
            SetProtocolFeatures(protocol);
            if ((protocol & Proto.ProtoMq) != 0)
            {
                queues = (int)GetQueueNum();
            }
            if ((protocol & Proto.ProtoConfigureMemSlots) != 0)
            {
                MaxMemSlots = GetMaxMemSlots();
            }
        }
        if ((NegotiatedProtocolFeatures & Proto.ProtoBackendReq) != 0)
        {
            if (VirtioFsd.Linux.Libc.SocketPair(VirtioFsd.Linux.Libc.SOCK_STREAM | VirtioFsd.Linux.Libc.SOCK_CLOEXEC,
                    out int mine, out int theirs) < 0)
            {
                throw new VhostUserFrontendException("socketpair for the backend channel failed");
            }
            BackendChannel = new FrontendSocket(mine);
            try
            {
                SetBackendReqFd(theirs);
            }
            finally
            {
                VirtioFsd.Linux.Libc.Close(theirs);
            }
        }
        SetOwner();
        GetFeatures();
        ulong accepted = features & (wantedFeatures | Proto.FeatureProtocolFeatures);
        SetFeatures(accepted);
        return queues;
    }

    /// <summary>
    /// Starts one queue the way vhost_virtqueue_start does: SET_VRING_NUM, SET_VRING_BASE, SET_VRING_ADDR,
    /// SET_VRING_KICK, SET_VRING_CALL, then SET_VRING_ENABLE(1) when protocol features are negotiated.
    /// </summary>
    public void StartQueue(FrontendQueue queue, uint baseIndex = 0, bool enable = true)
    {
        SetVringNum(queue.Index, queue.Size);
        SetVringBase(queue.Index, baseIndex);
        SetVringAddr(queue.Index, queue.DescGpa, queue.AvailGpa, queue.UsedGpa);
        SetVringFd(Req.SetVringKick, queue.Index, queue.Kick.Value);
        SetVringFd(Req.SetVringCall, queue.Index, queue.Call.Value);
        if (enable && (NegotiatedFeatures & Proto.FeatureProtocolFeatures) != 0)
        {
            SetVringEnable(queue.Index, true);
        }
    }

    /// <summary>GET_MAX_MEM_SLOTS answer from <see cref="Initialize"/> (0 without CONFIGURE_MEM_SLOTS).</summary>
    public ulong MaxMemSlots { get; private set; }

    /// <summary>
    /// Shares guest memory as QEMU 7.2 does (vhost_user_set_mem_table): one ADD_MEM_REG per region when
    /// CONFIGURE_MEM_SLOTS is negotiated, otherwise one SET_MEM_TABLE.
    /// </summary>
    public void ShareMemory()
    {
        if ((NegotiatedProtocolFeatures & Proto.ProtoConfigureMemSlots) != 0)
        {
            foreach (GuestRamRegion region in Ram.Regions)
            {
                AddMemReg(region);
            }
        }
        else
        {
            SetMemTable();
        }
    }

    /// <summary>Full bring-up: <see cref="Initialize"/>, <see cref="ShareMemory"/>, then <see cref="StartQueue"/> for each queue.</summary>
    public void Handshake(IEnumerable<FrontendQueue> queues, ulong wantedFeatures = QemuFsFeatureMask)
    {
        Initialize(wantedFeatures);
        ShareMemory();
        foreach (FrontendQueue q in queues)
        {
            StartQueue(q);
        }
    }
}
