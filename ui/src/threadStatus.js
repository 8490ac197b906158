// A thread's status as the user should see it: the server's (idle, busy, interrupted,
// error), except for the open thread, whose run this client follows live and so knows
// about before the server's list is read again.
import { store } from './store.js'

export function statusOf(thread) {
  if (thread?.thread_id && thread.thread_id === store.threadId) {
    if (store.running) return 'busy'
    if (store.interrupts.length) return 'interrupted'
  }
  return thread?.status || ''
}

// The threads that wait for the user's decision, the open one first.
export function waitingThreads() {
  const waiting = store.threads.filter((thread) => statusOf(thread) === 'interrupted')
  if (store.threadId && store.interrupts.length && !waiting.some((th) => th.thread_id === store.threadId)) {
    waiting.push({ thread_id: store.threadId, status: 'interrupted' })
  }
  return waiting.sort((a, b) => (b.thread_id === store.threadId) - (a.thread_id === store.threadId))
}
