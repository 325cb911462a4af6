//! `with_scratch_arena` in a binary whose global allocator is not `ArenaRouter`: the work runs
//! as it is, nothing is printed and nothing is recorded.

use arena_router::{arena_routing_active, scratch_arena, with_scratch_arena, HeapArena};

const CHILD: &str = "ARENA_ROUTER_SCRATCH_CHILD";

/// What the child checks: results, and that no arena took a lane or recorded anything.
fn calls_run_the_work_and_record_nothing() {
    for round in 0..3u64 {
        let v = with_scratch_arena(|| {
            assert!(!arena_routing_active());
            (0..1000).map(|i| i * round).collect::<Vec<u64>>()
        });
        assert_eq!(v[999], 999 * round);
    }
    let stats = scratch_arena().stats();
    assert_eq!(stats.lanes, 0, "{stats:?}");
    assert_eq!(stats.allocations, 0);
    assert_eq!(stats.routing_off, None);
    // Inside a user's scope too: that arena notes (once) what its own scope found, no more.
    let arena = HeapArena::new();
    arena.scope(|| with_scratch_arena(|| drop(vec![1u8; 100])));
    assert_eq!(scratch_arena().stats().lanes, 0);
}

#[test]
fn without_the_router_calls_just_run_the_work() {
    calls_run_the_work_and_record_nothing();
}

#[test]
#[cfg_attr(miri, ignore = "starts a process")]
fn without_the_router_nothing_is_printed() {
    const NAME: &str = "without_the_router_nothing_is_printed";
    if std::env::var_os(CHILD).is_some() {
        // The child: only scratch calls, so stderr must stay empty.
        for _ in 0..3 {
            assert_eq!(with_scratch_arena(|| vec![2u8; 64].len()), 64);
        }
        assert_eq!(scratch_arena().stats().routing_off, None);
        println!("scratch child passed");
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args(["--exact", NAME, "--test-threads=1", "--nocapture"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed: {stdout}\n{stderr}");
    assert!(
        stdout.contains("scratch child passed"),
        "{stdout}\n{stderr}"
    );
    assert!(!stderr.contains("arena-router"), "{stderr}");
}
