import { createApp } from 'vue'
import 'vuetify/styles'
import { createVuetify } from 'vuetify'
import { aliases, mdi } from 'vuetify/iconsets/mdi-svg'
import 'highlight.js/styles/github.css'
import './style.css'
import App from './App.vue'
import { i18n } from './i18n.js'

const vuetify = createVuetify({
  icons: { defaultSet: 'mdi', aliases, sets: { mdi } },
  locale: { locale: i18n.locale },
  theme: {
    defaultTheme: 'light',
    themes: { light: { colors: { primary: '#1565c0', secondary: '#455a64' } } },
  },
})

createApp(App).use(vuetify).mount('#app')
