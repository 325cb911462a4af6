// The arena `with_current_arena` shows is only borrowed for the call (the thread's scope may end
// right after it): the reference can't be kept.
use arena_router::{with_current_arena, HeapArena};

fn main() {
    let kept: Option<&HeapArena> = with_current_arena(|arena| arena);
    let _ = kept;
}
