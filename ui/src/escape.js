// Escape closes what covers the page. Vuetify's dialogs and menus close themselves on
// Escape; its drawers do not, so the app says which drawer to close (`close` returns
// whether it closed one). An open dialog goes first: one Escape closes one layer.
import { onBeforeUnmount, onMounted } from 'vue'

export function closeOnEscape(close) {
  const onKey = (event) => {
    if (event.key !== 'Escape' || event.defaultPrevented || event.isComposing) return
    if (document.querySelector('.v-overlay--active.v-dialog, .v-overlay--active.v-menu')) return
    if (close()) event.preventDefault()
  }
  onMounted(() => document.addEventListener('keydown', onKey))
  onBeforeUnmount(() => document.removeEventListener('keydown', onKey))
}
