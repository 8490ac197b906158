// Getting the user back when an approval waits: the page title counts the waiting
// approvals, and a browser notification says so while the tab is in the background.
// Notifications are opt-in (the bell asks for permission on the user's click, never on
// load) and remembered per browser.
import { computed, reactive, watch, watchEffect } from 'vue'
import { t } from './i18n.js'
import { store, titleOf } from './store.js'
import { waitingThreads } from './threadStatus.js'

const NOTIFY_KEY = 'deepagent.notify'

export const permission = () => ('Notification' in window ? Notification.permission : 'unsupported')

export const notifications = reactive({
  enabled: localStorage.getItem(NOTIFY_KEY) === '1' && permission() === 'granted',
})

function remember(enabled) {
  notifications.enabled = enabled
  if (enabled) localStorage.setItem(NOTIFY_KEY, '1')
  else localStorage.removeItem(NOTIFY_KEY)
}

// On the user's click: turns notifications off, or asks for permission and turns them on.
// Returns why they stay off ('' when the toggle did what was asked).
export async function toggleNotifications() {
  if (notifications.enabled) {
    remember(false)
    return ''
  }
  if (permission() === 'unsupported') return t('notifyUnsupported')
  const answer = permission() === 'granted' ? 'granted' : await Notification.requestPermission()
  if (answer !== 'granted') return t('notifyDenied')
  remember(true)
  return ''
}

function titleFor(thread) {
  const listed = store.threads.find((th) => th.thread_id === thread.thread_id)
  return titleOf(listed || thread)
}

function showNotification(thread) {
  if (!notifications.enabled || permission() !== 'granted' || !document.hidden) return
  try {
    const shown = new Notification(t('status_interrupted'), { body: titleFor(thread), tag: `approval-${thread.thread_id}` })
    shown.onclick = () => {
      window.focus()
      shown.close()
    }
  } catch {
    // Some browsers only allow notifications from a service worker: the title still counts.
  }
}

// `currentTitle`: the open thread's title (a computed ref), shown when nothing waits.
export function watchAttention(currentTitle) {
  const waiting = computed(() => (store.phase === 'ready' ? waitingThreads() : []))
  watchEffect(() => {
    const list = waiting.value
    const app = t('appTitle')
    document.title = list.length
      ? t('approvalWaitingTitle', { n: list.length, title: titleFor(list[0]) })
      : currentTitle.value === app ? app : `${currentTitle.value} — ${app}`
  })
  watch(
    () => waiting.value.map((thread) => thread.thread_id),
    (now, before) => {
      const fresh = now.filter((id) => !before?.includes(id))
      for (const id of fresh) showNotification({ thread_id: id })
    },
  )
}
