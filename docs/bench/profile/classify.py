#!/usr/bin/env python3
"""Groups `perf report --no-children --sort symbol` self time into the phases of a message."""
import re, subprocess, sys
from collections import defaultdict, OrderedDict

PHASES = [
 ("signature verification (ring P-256 ECDSA, SHA-256)", r"ring::|ring_core|p256|nistz|ecp_nistz|ecdsa|GFp_|bn_mul_mont|bn_sqr|LIMBS_|LIMB_|sha256|sha512|block_data_order|verify_signature|fiat_|scalar_|point_|beeu|p384"),
 ("frame parse (WebSocket read, unmask, UTF-8, JSON decode, base64)", r"serde_json::de|Deserializ|deserializ|base64|unmask|apply_mask|from_utf8|validate_utf8|utf8|ClientFrame|serde::de|tungstenite.*(read_frame|Read|incomplete|parse|FrameHeader::parse)|ReadBuffer|handle_text|str::from"),
 ("gate and policy (hub subscription check, writer's facts)", r"passerelle::gate|passerelle::policy|passerelle::facts|writable|BatchFacts|Hub::receives"),
 ("commit: SQLite, sqlx, sea-orm (user space)", r"sqlite|vdbe|Vdbe|btree|Btree|pcache|pager|Pager|\bwal|^wal|yy_|sqlx|sea_orm|sea_query|passerelle::messages|passerelle::db|libsqlite|Bitvec|whereLoop|exprAnalyze|sqlite3"),
 ("commit: fsync and file writes (kernel: ext4, jbd2, block)", r"ext4|jbd2|fsync|blk_|virtio|file_write_and_wait|submit_bio|iomap|filemap_|generic_perform_write|__block_write|block_write|mpage|folio_|page_cache|writeback|bio_|generic_file"),
 ("fan-out: encode and hub (JSON encode, queueing per recipient)", r"serde_json::ser|Serializ|serializ|format_escaped|passerelle::bus|Hub::|deliver|frame_text|itoa|ryu|mpsc|chan::|bounded::|Semaphore|batch_semaphore|serde_json::value"),
 ("socket writes (WebSocket framing, TCP send and the loopback delivery)", r"tcp_sendmsg|tcp_write|tcp_transmit|__tcp_push|tcp_push|ip_output|ip_finish|ip_queue_xmit|__ip_queue|dev_queue|__dev_queue|loopback|netif|net_rx|__netif|tcp_v4_rcv|tcp_v4_do_rcv|ip_rcv|ip_local|tcp_rcv|tcp_ack|tcp_data_queue|tcp_queue_rcv|sock_def_readable|__skb|skb_|kfree_skb|sk_stream|tcp_event|__tcp_transmit|tcp_clean_rtx|tcp_v4_send|do_softirq|__do_softirq|net_dev|sock_sendmsg|__sys_sendto|sock_write|tcp_stream_alloc|tcp_skb|__kfree_skb|tcp_mstamp|tcp_established|tcp_schedule|tcp_rate|sk_reset|sk_filter|tcp_options|tcp_check|tcp_update|validate_xmit|__napi|process_backlog|_copy_from_iter|copy_from_user|copyin|tungstenite.*(write|Write|Sink|send|flush|format|Message::)|WebSocketStream.*(send|flush|poll_ready)|format_into_buf|buffer_frame|^__send$|bytes::bytes::shared_drop|poll_flush|feed|sink|inet_sendmsg|__local_bh|ip_rcv_core|tcp_add_backlog|tcp_inbound|nf_|__inet_lookup|inet_ehashfn"),
 ("socket reads (TCP receive into the server)", r"tcp_recvmsg|tcp_cleanup_rbuf|skb_copy_datagram|_copy_to_iter|copy_to_user|copyout|sock_recvmsg|__sys_recvfrom|tcp_rcv_space|inet_recvmsg|sock_read|tcp_recv"),
 ("per-connection tasks, scheduling, wake-ups (tokio, futex, epoll, kernel scheduler)", r"tokio|futures|parking_lot|mio::|epoll|ep_poll|ep_|schedule|__schedule|futex|pick_next|finish_task_switch|try_to_wake_up|enqueue|dequeue|update_curr|select_task|ttwu|hrtimer|__wake_up|pthread|sched|switch_to|__switch|wake_up|raw_spin|_raw_spin|native_queued|queued_spin|update_load|update_rq|set_next|put_prev|__update|psi_|cpuacct|rcu|timerqueue|clockevents|ktime|read_tsc|tick_|irq|native_write_msr|restore_regs|syscall_exit|x86_|RawWaker|Waker|AtomicWaker|std::thread|std::sync|Mutex|Condvar|Notify|notify|poll_next|__lll|lll_lock|sem_post|sem_wait|timer|sleep|Sleep|yield|do_syscall|entry_SYSCALL|__x64_sys|syscall_return|exit_to_user|error_entry|asm_sysvec|sysvec|__sysvec|cpuidle|idle|mutex_|fdget|__fget|fput|Instant|clock_gettime|vdso|__vdso|account_|__audit|security_|__cgroup"),
 ("allocation (malloc, free)", r"malloc|free|_int_|realloc|calloc|__rust_alloc|__rust_dealloc|__rdl_|alloc::alloc|arena|tcache|unlink_chunk|sysmalloc|cfree|memalign|alloc::raw_vec|RawVec|grow_one|finish_grow|Arc<.*>::drop_slow|drop_in_place|kmem_cache|kmalloc|__kmalloc|kfree|slab|__slab|___slab|page_alloc|get_page_from|free_pages|__free_pages|rmqueue|mod_memcg|memcg|obj_cgroup"),
 ("memory copies (memcpy, memmove, memcmp, memset)", r"memcpy|memmove|memcmp|memset|memchr|bcmp|strlen|__memcpy|rep_movs|clear_page|copy_page"),
 ("hashing (SipHash of maps)", r"SipHash|sip::|Hasher|hash::|RandomState|hashbrown"),
]
compiled = [(n, re.compile(p)) for n, p in PHASES]

def rows(data, extra):
    out = subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", "symbol", "--stdio", "-g", "none", "--percent-limit", "0"] + extra,
                         capture_output=True, text=True).stdout
    for line in out.splitlines():
        m = re.match(r"\s+([\d.]+)%\s+\[(.)\]\s+(.*)$", line)
        if m:
            yield float(m.group(1)), m.group(2), m.group(3).strip()

def main():
    data = sys.argv[1]
    totals = defaultdict(float); top = defaultdict(list); allp = 0
    for pct, kind, sym in rows(data, []):
        allp += pct
        name = None
        for n, rx in compiled:
            if rx.search(sym):
                name = n; break
        if name is None:
            name = "kernel, other" if kind == "k" else "other (user space)"
        totals[name] += pct
        top[name].append((pct, sym))
    print(f"# total {allp:.1f}% of samples classified")
    for n, _ in PHASES + [("kernel, other", 0), ("other (user space)", 0)]:
        t = totals.get(n, 0.0)
        print(f"{t:6.2f}%  {n}")
        for pct, sym in sorted(top[n], reverse=True)[:6]:
            print(f"           {pct:5.2f}%  {sym[:110]}")
main()
