import { createApp } from 'vue'
import 'vuetify/styles'
import { createVuetify } from 'vuetify'
import { aliases, mdi } from 'vuetify/iconsets/mdi-svg'
import 'highlight.js/styles/github.css'
import './style.css'
import './theme.css'
import App from './App.vue'
import { i18n } from './i18n.js'

const vuetify = createVuetify({
  icons: { defaultSet: 'mdi', aliases, sets: { mdi } },
  locale: { locale: i18n.locale },
  // 'system' follows the browser's prefers-color-scheme, live.
  theme: {
    defaultTheme: 'system',
    themes: {
      light: { colors: { primary: '#1565c0', secondary: '#455a64' } },
      dark: { dark: true, colors: { primary: '#90caf9', secondary: '#b0bec5', background: '#121212', surface: '#1e1e1e' } },
    },
  },
})

createApp(App).use(vuetify).mount('#app')
